/**
 * Control as an ECS service on Fargate behind an Application Load Balancer. Callers and GitHub
 * come in through the load balancer (HTTPS with the given ACM certificate); runners reach control
 * inside the VPC at a Cloud Map name. The load balancer's idle timeout outlasts the longest wait
 * control holds open (a sync `/run`, an SSE status stream), so neither is cut mid-wait.
 */
import { Annotations, Aws, CfnOutput, Duration, RemovalPolicy, Validations } from 'aws-cdk-lib';
import * as acm from 'aws-cdk-lib/aws-certificatemanager';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as ecr from 'aws-cdk-lib/aws-ecr';
import * as ecs from 'aws-cdk-lib/aws-ecs';
import * as elbv2 from 'aws-cdk-lib/aws-elasticloadbalancingv2';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as servicediscovery from 'aws-cdk-lib/aws-servicediscovery';
import { Construct } from 'constructs';
import type { ControlKeys } from './control-keys.ts';
import type { Database } from './database.ts';
import {
  CONTROL_PORT,
  controlDnsNamespace,
  controlLogGroupName,
  controlRepositoryName,
  githubOidcIssuer,
  runnerLogGroupName,
  runnerRepositoryName,
  TASK_FAMILY_PREFIX,
} from './names.ts';
import type { Network } from './network.ts';
import { appSecretArnPattern, queueArnPattern, type RunnerRoles } from './runner-roles.ts';
import type { InfraSettings } from './settings.ts';

/**
 * What control does with its environments' secrets in Secrets Manager
 * (control/src/secrets/secrets-manager.ts): CreateSecret with tags is also authorised as TagResource.
 */
export const CONTROL_SECRETS_ACTIONS = [
  'secretsmanager:CreateSecret',
  'secretsmanager:PutSecretValue',
  'secretsmanager:DeleteSecret',
  'secretsmanager:TagResource',
];

/** What control does with SQS (control/src/queue/sqs-queue.ts); batch calls need the same actions. */
export const CONTROL_SQS_ACTIONS = [
  'sqs:CreateQueue',
  'sqs:TagQueue',
  'sqs:GetQueueUrl',
  'sqs:GetQueueAttributes',
  'sqs:DeleteQueue',
  'sqs:SendMessage',
  'sqs:ReceiveMessage',
  'sqs:ChangeMessageVisibility',
  'sqs:DeleteMessage',
];

export interface ControlServiceProps {
  settings: InfraSettings;
  network: Network;
  cluster: ecs.Cluster;
  database: Database;
  keys: ControlKeys;
  runners: RunnerRoles;
  /** Machine type → capacity provider name. */
  capacityProviders: Record<string, string>;
}

export class ControlService extends Construct {
  readonly service: ecs.FargateService;
  readonly loadBalancer: elbv2.ApplicationLoadBalancer;
  readonly targetGroup: elbv2.ApplicationTargetGroup;
  readonly taskRole: iam.Role;
  readonly securityGroup: ec2.SecurityGroup;
  /** The URL callers and `gantry login` use. */
  readonly url: string;

  constructor(scope: Construct, id: string, props: ControlServiceProps) {
    super(scope, id);
    const { settings, network, cluster, database, keys, runners } = props;
    const { name } = settings;

    this.securityGroup = new ec2.SecurityGroup(this, 'Sg', {
      vpc: network.vpc,
      description: 'Gantry control tasks: from the load balancer and from runners',
      allowAllOutbound: true,
    });
    network.allowEndpoints(this.securityGroup);
    this.securityGroup.addIngressRule(
      runners.securityGroup,
      ec2.Port.tcp(CONTROL_PORT),
      'Runners: the runner protocol',
    );
    database.securityGroup.addIngressRule(this.securityGroup, ec2.Port.tcp(5432), 'Control tasks');

    // --- the task -------------------------------------------------------------------------------
    const logGroup = new logs.LogGroup(this, 'Logs', {
      logGroupName: controlLogGroupName(name),
      retention: logs.RetentionDays.THREE_MONTHS,
      removalPolicy: RemovalPolicy.DESTROY,
    });
    this.taskRole = new iam.Role(this, 'TaskRole', {
      assumedBy: new iam.ServicePrincipal('ecs-tasks.amazonaws.com'),
      description: 'Gantry control: run runner tasks on this cluster, own Gantry queues',
    });
    this.grantControl(settings, cluster, runners);

    const taskDefinition = new ecs.FargateTaskDefinition(this, 'Task', {
      cpu: settings.controlCpu,
      memoryLimitMiB: settings.controlMemoryMiB,
      taskRole: this.taskRole,
      runtimePlatform: {
        operatingSystemFamily: ecs.OperatingSystemFamily.LINUX,
        cpuArchitecture: ecs.CpuArchitecture.X86_64,
      },
    });
    const registry = `${Aws.ACCOUNT_ID}.dkr.ecr.${Aws.REGION}.${Aws.URL_SUFFIX}`;
    const image = settings.controlImage
      ? ecs.ContainerImage.fromRegistry(settings.controlImage)
      : ecs.ContainerImage.fromEcrRepository(
          ecr.Repository.fromRepositoryName(this, 'ControlRepository', controlRepositoryName(name)),
          settings.imageTag,
        );
    const runnerImage =
      settings.runnerImage ?? `${registry}/${runnerRepositoryName(name)}:${settings.imageTag}`;
    const db = database.controlEnvironment();
    const publicUrl = settings.domainName
      ? `${settings.certificateArn ? 'https' : 'http'}://${settings.domainName}`
      : undefined;
    const environment: Record<string, string> = {
      // Names and formats: control/src/config.ts.
      HOST: '0.0.0.0',
      PORT: String(CONTROL_PORT),
      GANTRY_DEPLOY_EXAMPLE: 'false',
      GANTRY_CONTROL_URL: `http://control.${controlDnsNamespace(name)}:${CONTROL_PORT}`,
      GANTRY_SYNC_TIMEOUT: String(settings.syncTimeoutSeconds),
      GANTRY_QUEUE: 'sqs',
      GANTRY_SQS_QUEUE_PREFIX: name,
      GANTRY_COMPUTE: 'ecs',
      GANTRY_ECS_CLUSTER: name,
      GANTRY_ECS_REGION: Aws.REGION,
      GANTRY_ECS_SUBNETS: network.vpc.privateSubnets.map((s) => s.subnetId).join(','),
      GANTRY_ECS_SECURITY_GROUPS: runners.securityGroup.securityGroupId,
      GANTRY_ECS_CAPACITY_PROVIDERS: JSON.stringify(props.capacityProviders),
      GANTRY_ECS_RUNNER_IMAGE: runnerImage,
      GANTRY_ECS_LOG_GROUP: runnerLogGroupName(name),
      GANTRY_ECS_EXECUTION_ROLE_ARN: runners.executionRole.roleArn,
      GANTRY_ECS_TASK_ROLE_ARN: runners.taskRole.roleArn,
      // The scope of the runners' GetSecretValue and control's secret writes (runner-roles.ts).
      GANTRY_ECS_SECRET_PREFIX: name,
      GANTRY_OIDC_ISSUER: `https://${githubOidcIssuer(settings.gheHost)}`,
      ...db.environment,
      ...(publicUrl ? { GANTRY_PUBLIC_URL: publicUrl } : {}),
      ...(settings.gheHost ? { GHE_HOST: settings.gheHost } : {}),
    };
    taskDefinition.addContainer('control', {
      image,
      essential: true,
      portMappings: [{ containerPort: CONTROL_PORT, name: 'http' }],
      environment,
      secrets: { ...db.secrets, ...keys.controlSecrets() },
      logging: ecs.LogDrivers.awsLogs({ logGroup, streamPrefix: 'control' }),
      // Control drains its long polls and streams on SIGTERM; give it the time to.
      stopTimeout: Duration.seconds(60),
    });

    // --- the service --------------------------------------------------------------------------
    const namespace = new servicediscovery.PrivateDnsNamespace(this, 'Namespace', {
      name: controlDnsNamespace(name),
      vpc: network.vpc,
      description: 'Gantry: where runners reach control',
    });
    this.service = new ecs.FargateService(this, 'Service', {
      cluster,
      taskDefinition,
      desiredCount: settings.controlTasks,
      vpcSubnets: network.privateSubnets,
      securityGroups: [this.securityGroup],
      assignPublicIp: false,
      minHealthyPercent: 100,
      maxHealthyPercent: 200,
      circuitBreaker: { enable: true, rollback: true },
      healthCheckGracePeriod: Duration.seconds(60),
      cloudMapOptions: {
        cloudMapNamespace: namespace,
        name: 'control',
        dnsRecordType: servicediscovery.DnsRecordType.A,
        dnsTtl: Duration.seconds(10),
      },
    });
    // The generated keys must be in their secrets before the first task reads them.
    this.service.node.addDependency(keys.ready);

    // --- the load balancer --------------------------------------------------------------------
    const lbSg = new ec2.SecurityGroup(this, 'LoadBalancerSg', {
      vpc: network.vpc,
      description: 'Gantry load balancer: HTTPS from anywhere (callers, GitHub webhooks)',
      allowAllOutbound: false,
    });
    this.loadBalancer = new elbv2.ApplicationLoadBalancer(this, 'LoadBalancer', {
      vpc: network.vpc,
      vpcSubnets: network.publicSubnets,
      internetFacing: true,
      securityGroup: lbSg,
      idleTimeout: Duration.seconds(settings.syncTimeoutSeconds + 60),
      dropInvalidHeaderFields: true,
    });
    this.targetGroup = new elbv2.ApplicationTargetGroup(this, 'Targets', {
      vpc: network.vpc,
      port: CONTROL_PORT,
      protocol: elbv2.ApplicationProtocol.HTTP,
      targetType: elbv2.TargetType.IP,
      targets: [this.service],
      deregistrationDelay: Duration.seconds(60),
      healthCheck: {
        path: settings.healthCheckPath,
        healthyHttpCodes: '200',
        interval: Duration.seconds(15),
        healthyThresholdCount: 2,
        unhealthyThresholdCount: 3,
      },
    });
    if (settings.certificateArn) {
      const https = this.loadBalancer.addListener('Https', {
        port: 443,
        protocol: elbv2.ApplicationProtocol.HTTPS,
        certificates: [acm.Certificate.fromCertificateArn(this, 'Certificate', settings.certificateArn)],
        sslPolicy: elbv2.SslPolicy.RECOMMENDED_TLS,
        defaultTargetGroups: [this.targetGroup],
        open: true,
      });
      https.node.addDependency(this.targetGroup);
      this.loadBalancer.addRedirect({ sourcePort: 80, targetPort: 443 });
    } else {
      this.loadBalancer.addListener('Http', {
        port: 80,
        protocol: elbv2.ApplicationProtocol.HTTP,
        defaultTargetGroups: [this.targetGroup],
        open: true,
      });
      Annotations.of(this).addWarningV2(
        'gantry:no-certificate',
        'No certificateArn: the load balancer listens on plain HTTP and keys cross the internet in clear. Set -c certificateArn=arn:aws:acm:… (and domainName) for a real install.',
      );
    }
    this.url =
      publicUrl ?? `${settings.certificateArn ? 'https' : 'http'}://${this.loadBalancer.loadBalancerDnsName}`;
    new CfnOutput(this, 'Url', { value: this.url, description: 'Control: gantry login --url <this>' });
    new CfnOutput(this, 'LoadBalancerDns', {
      value: this.loadBalancer.loadBalancerDnsName,
      description: 'Point domainName (a CNAME or alias record) here',
    });
    new CfnOutput(this, 'AdminKeySecret', {
      value: keys.adminKey.secretName,
      description: 'aws secretsmanager get-secret-value --secret-id <this> --query SecretString',
    });
    new CfnOutput(this, 'GitHubAppSecret', {
      value: keys.githubApp.secretArn,
      description:
        'Where the GitHub App credentials go: aws secretsmanager put-secret-value --secret-id <this> --secret-string file://github-app/github-app.secret.json',
    });
    new CfnOutput(this, 'ServiceName', { value: this.service.serviceName });

    Validations.of(lbSg).acknowledge(
      ...[
        {
          id: 'AwsSolutions-EC23',
          reason:
            'The endpoint is public by design: fal clients, the CLI and GitHub webhooks call it; every route checks a key or a signature',
        },
      ],
    );
    Validations.of(this.loadBalancer).acknowledge(
      ...[
        {
          id: 'AwsSolutions-ELB2',
          reason:
            'Control logs every request to CloudWatch itself; ALB access logs would need a bucket and its own log chain for the same facts',
        },
      ],
    );
    Validations.of(taskDefinition).acknowledge(
      {
        id: 'AwsSolutions-ECS2',
        reason:
          'Plain settings (names, URLs, ids) are environment variables; every secret value comes from Secrets Manager',
      },
      {
        id: 'AwsSolutions-IAM5[Resource::*]',
        reason:
          'The execution role pulls the control image: ecr:GetAuthorizationToken has no resource-level permission',
      },
    );
  }

  /**
   * Least privilege for control: start runner tasks only from Gantry's task definitions and only
   * on this cluster, see, list and stop only this cluster's tasks, pass only the two runner roles,
   * and touch only queues and secrets under the install's prefix.
   */
  private grantControl(settings: InfraSettings, cluster: ecs.Cluster, runners: RunnerRoles): void {
    const p = `arn:${Aws.PARTITION}:ecs:${Aws.REGION}:${Aws.ACCOUNT_ID}`;
    const onCluster = { ArnEquals: { 'ecs:cluster': cluster.clusterArn } };
    const role = this.taskRole;
    role.addToPolicy(
      new iam.PolicyStatement({
        sid: 'RunRunnerTasks',
        actions: ['ecs:RunTask'],
        resources: [`${p}:task-definition/${TASK_FAMILY_PREFIX}*`],
        conditions: onCluster,
      }),
    );
    role.addToPolicy(
      new iam.PolicyStatement({
        sid: 'WatchAndStopRunnerTasks',
        actions: ['ecs:DescribeTasks', 'ecs:StopTask'],
        resources: [`${p}:task/${settings.name}/*`],
        conditions: onCluster,
      }),
    );
    role.addToPolicy(
      new iam.PolicyStatement({
        sid: 'FindRunnerTasksAfterRestart',
        // ListTasks is authorised on the cluster's container instances; the cluster condition is
        // the scope AWS's own drain hook uses for it.
        actions: ['ecs:ListTasks'],
        resources: ['*'],
        conditions: onCluster,
      }),
    );
    role.addToPolicy(
      new iam.PolicyStatement({
        sid: 'RegisterRunnerTaskDefinitions',
        // RegisterTaskDefinition has no resource-level permission. A task definition does
        // nothing until RunTask, which is bound to this cluster and the gantry- families.
        actions: ['ecs:RegisterTaskDefinition'],
        resources: ['*'],
      }),
    );
    role.addToPolicy(
      new iam.PolicyStatement({
        sid: 'TagOnCreate',
        // RunTask and RegisterTaskDefinition with tags are also authorised as TagResource.
        actions: ['ecs:TagResource'],
        resources: [`${p}:task-definition/${TASK_FAMILY_PREFIX}*`, `${p}:task/${settings.name}/*`],
        conditions: { StringEquals: { 'ecs:CreateAction': ['RunTask', 'RegisterTaskDefinition'] } },
      }),
    );
    role.addToPolicy(
      new iam.PolicyStatement({
        sid: 'PassRunnerRoles',
        actions: ['iam:PassRole'],
        resources: [runners.executionRole.roleArn, runners.taskRole.roleArn],
        conditions: { StringEquals: { 'iam:PassedToService': 'ecs-tasks.amazonaws.com' } },
      }),
    );
    role.addToPolicy(
      new iam.PolicyStatement({
        sid: 'OwnGantryQueues',
        actions: CONTROL_SQS_ACTIONS,
        resources: [queueArnPattern(settings.name)],
      }),
    );
    role.addToPolicy(
      new iam.PolicyStatement({
        sid: 'MirrorEnvironmentSecrets',
        actions: CONTROL_SECRETS_ACTIONS,
        resources: [appSecretArnPattern(settings.name)],
      }),
    );
    const arn = 'arn:<AWS::Partition>:ecs:<AWS::Region>:<AWS::AccountId>';
    Validations.of(role).acknowledge(
      {
        id: 'AwsSolutions-IAM5[Resource::*]',
        reason:
          'ecs:RegisterTaskDefinition has no resource-level permission (a task definition does nothing until RunTask, which is bound to this cluster and the gantry- families); ecs:ListTasks is bound to this cluster by its condition',
      },
      {
        id: `AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:secretsmanager:<AWS::Region>:<AWS::AccountId>:secret:${settings.name}/*]`,
        reason:
          "Control writes one secret per environment and name at run time, under the install's name; the prefix is the narrowest name known at install time",
      },
      {
        id: `AwsSolutions-IAM5[Resource::${arn}:task-definition/${TASK_FAMILY_PREFIX}*]`,
        reason:
          'Control registers one task definition family per revision and machine type at run time, all named gantry-…',
      },
      {
        id: `AwsSolutions-IAM5[Resource::${arn}:task/${settings.name}/*]`,
        reason:
          'Control starts one task per runner at run time; tasks of this cluster are the narrowest scope',
      },
      {
        id: `AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:sqs:<AWS::Region>:<AWS::AccountId>:${settings.name}-*]`,
        reason:
          'Control creates one queue set per environment at run time; the prefix is the narrowest name known at install time',
      },
    );
  }
}
