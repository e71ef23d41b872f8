/**
 * What control's ECS driver hands to every runner task it starts: the task execution role (pull
 * the runner and app images from this install's ECR repositories, write to the runners' log
 * group), the task role (receive, extend and delete messages on Gantry's queues, nothing else), the
 * security group (out to control and AWS, nothing in) and the log group.
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

/** What a runner does with messages (sqs/src/sqs-consumer.ts); batches need the same actions. */
export const RUNNER_SQS_ACTIONS = ['sqs:ReceiveMessage', 'sqs:ChangeMessageVisibility', 'sqs:DeleteMessage'];

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
      description: 'Runner tasks: pull images from this install and write their logs',
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
    );

    this.taskRole = new iam.Role(this, 'TaskRole', {
      assumedBy: new iam.ServicePrincipal('ecs-tasks.amazonaws.com'),
      description: "Runner tasks: work their environment's queue",
    });
    this.taskRole.addToPolicy(
      new iam.PolicyStatement({ actions: RUNNER_SQS_ACTIONS, resources: [queueArnPattern(name)] }),
    );
    Validations.of(this.taskRole).acknowledge({
      id: `AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:sqs:<AWS::Region>:<AWS::AccountId>:${name}-*]`,
      reason:
        'Control creates one queue set per environment at run time; the prefix is the narrowest name known at install time',
    });
  }
}
