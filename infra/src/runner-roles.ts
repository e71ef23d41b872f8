/**
 * What control's ECS driver hands to every runner task it starts: the task execution role (pull
 * the runner and app images from this install's ECR repositories, write to the runners' log
 * group, read the environments' secrets the task definition names by ARN), the task role (nothing
 * from Gantry), the security group (out to control and AWS, nothing in) and the log group.
 */
import { Aws, RemovalPolicy, Validations } from 'aws-cdk-lib';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as logs from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import { runnerLogGroupName } from './names.ts';
import type { Network } from './network.ts';

/** ARN pattern of every SQS queue control creates: `<GANTRY_SQS_QUEUE_PREFIX>-<hash>[-low|-dlq]`. */
export const queueArnPattern = (name: string) =>
  `arn:${Aws.PARTITION}:sqs:${Aws.REGION}:${Aws.ACCOUNT_ID}:${name}-*`;

/** ARN pattern of this install's ECR repositories (runner image and app images). */
export const repositoryArnPattern = (name: string) =>
  `arn:${Aws.PARTITION}:ecr:${Aws.REGION}:${Aws.ACCOUNT_ID}:repository/${name}/*`;

/**
 * ARN pattern of the secrets control mirrors for runner tasks: `<GANTRY_ECS_SECRET_PREFIX>/<environment
 * id>/<NAME>` (control/src/secrets/secrets-manager.ts), the prefix being the install's name.
 */
export const appSecretArnPattern = (name: string) =>
  `arn:${Aws.PARTITION}:secretsmanager:${Aws.REGION}:${Aws.ACCOUNT_ID}:secret:${name}/*`;

export class RunnerRoles extends Construct {
  readonly executionRole: iam.Role;
  readonly taskRole: iam.Role;
  readonly securityGroup: ec2.SecurityGroup;
  readonly logGroup: logs.LogGroup;

  constructor(scope: Construct, id: string, name: string, network: Network) {
    super(scope, id);
    this.logGroup = new logs.LogGroup(this, 'Logs', {
      logGroupName: runnerLogGroupName(name),
      retention: logs.RetentionDays.ONE_MONTH,
      removalPolicy: RemovalPolicy.DESTROY,
    });
    this.securityGroup = new ec2.SecurityGroup(this, 'Sg', {
      vpc: network.vpc,
      description: 'Gantry runner tasks: outbound to control, AWS and model hubs; nothing inbound',
      allowAllOutbound: true,
    });
    network.allowEndpoints(this.securityGroup);

    this.executionRole = new iam.Role(this, 'ExecutionRole', {
      assumedBy: new iam.ServicePrincipal('ecs-tasks.amazonaws.com'),
      description:
        "Runner tasks: pull images from this install, write their logs, read their environment's secrets",
    });
    this.executionRole.addToPolicy(
      new iam.PolicyStatement({
        actions: ['ecr:BatchCheckLayerAvailability', 'ecr:GetDownloadUrlForLayer', 'ecr:BatchGetImage'],
        resources: [repositoryArnPattern(name)],
      }),
    );
    this.executionRole.addToPolicy(
      new iam.PolicyStatement({ actions: ['ecr:GetAuthorizationToken'], resources: ['*'] }),
    );
    this.executionRole.addToPolicy(
      new iam.PolicyStatement({
        // The driver's task definitions set awslogs-create-group, which calls CreateLogGroup.
        actions: ['logs:CreateLogGroup', 'logs:CreateLogStream', 'logs:PutLogEvents'],
        resources: [this.logGroup.logGroupArn],
      }),
    );
    this.executionRole.addToPolicy(
      new iam.PolicyStatement({
        // The ECS agent reads the secrets a task definition names (`secrets[].valueFrom`) with this
        // role. They use the account's AWS managed key, so no kms:Decrypt is needed.
        actions: ['secretsmanager:GetSecretValue'],
        resources: [appSecretArnPattern(name)],
      }),
    );
    Validations.of(this.executionRole).acknowledge(
      {
        id: 'AwsSolutions-IAM5[Resource::*]',
        reason: 'ecr:GetAuthorizationToken has no resource-level permission',
      },
      {
        id: `AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:ecr:<AWS::Region>:<AWS::AccountId>:repository/${name}/*]`,
        reason:
          "Runner tasks pull the runner image and any app's image; app repositories are added with their GitHub repository, so the install's prefix is the narrowest scope",
      },
      {
        id: `AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:secretsmanager:<AWS::Region>:<AWS::AccountId>:secret:${name}/*]`,
        reason:
          "Control writes one secret per environment and name at run time, under the install's name; the prefix is the narrowest name known at install time",
      },
    );

    // Runners pull their work through control (GANTRY_ECS_RUNNER_QUEUE=control), so the task role,
    // which the app container shares, gets nothing from Gantry: attach what apps need (a model
    // bucket, say) to it, or give each app a role of its own (GANTRY_ECS_TASK_ROLE_ARN's {owner}).
    this.taskRole = new iam.Role(this, 'TaskRole', {
      assumedBy: new iam.ServicePrincipal('ecs-tasks.amazonaws.com'),
      description: 'Runner tasks (the app container too): nothing from Gantry; attach what apps need',
    });
  }
}
