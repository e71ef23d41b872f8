/**
 * The main stack: network, cluster and GPU capacity, database, keys, control behind its load
 * balancer, the roles runners get, and the alarms. Images come from the registry stack's
 * repositories, named by convention (names.ts) rather than by export, so either stack can be
 * updated or removed without the other blocking it.
 */
import { CfnOutput, Stack, type StackProps, Validations } from 'aws-cdk-lib';
import * as ecs from 'aws-cdk-lib/aws-ecs';
import * as sns from 'aws-cdk-lib/aws-sns';
import * as subscriptions from 'aws-cdk-lib/aws-sns-subscriptions';
import type { Construct } from 'constructs';
import { Alarms } from './alarms.ts';
import { ControlKeys } from './control-keys.ts';
import { ControlService } from './control-service.ts';
import { Database } from './database.ts';
import { GpuCapacity } from './gpu-capacity.ts';
import { Network } from './network.ts';
import { RunnerRoles } from './runner-roles.ts';
import type { InfraSettings } from './settings.ts';

export class GantryStack extends Stack {
  readonly network: Network;
  readonly cluster: ecs.Cluster;
  readonly capacity: GpuCapacity;
  readonly database: Database;
  readonly keys: ControlKeys;
  readonly runners: RunnerRoles;
  readonly control: ControlService;
  readonly alarms: Alarms;
  readonly alarmTopic: sns.Topic;

  constructor(scope: Construct, id: string, settings: InfraSettings, props: StackProps = {}) {
    super(scope, id, {
      description: `Gantry (${settings.name}): control service, GPU capacity, database and alarms`,
      ...props,
    });
    const { name } = settings;
    this.alarmTopic = new sns.Topic(this, 'AlarmTopic', {
      displayName: `Gantry (${name}) alarms`,
      enforceSSL: true,
    });
    if (settings.alarmEmail) {
      this.alarmTopic.addSubscription(new subscriptions.EmailSubscription(settings.alarmEmail));
    }
    Validations.of(this.alarmTopic).acknowledge(
      ...[
        {
          id: 'AwsSolutions-SNS2',
          reason:
            'Alarm and capacity notices carry no secrets; the AWS-managed SNS key would block CloudWatch and EventBridge from publishing, and a customer key costs more than what it protects',
        },
      ],
    );

    this.network = new Network(this, 'Network', settings);
    this.cluster = new ecs.Cluster(this, 'Cluster', {
      clusterName: name,
      vpc: this.network.vpc,
      containerInsightsV2: ecs.ContainerInsights.DISABLED,
    });
    Validations.of(this.cluster).acknowledge(
      ...[
        {
          id: 'AwsSolutions-ECS4',
          reason:
            'Container Insights bills metrics per task definition family, and Gantry registers one per revision and machine type; the alarms use ALB, SQS and EventBridge metrics instead',
        },
      ],
    );
    this.capacity = new GpuCapacity(this, 'Gpu', {
      name,
      cluster: this.cluster,
      network: this.network,
      machineTypes: settings.machineTypes,
      alarmTopic: this.alarmTopic,
    });
    this.database = new Database(this, 'Database', this.network, settings);
    this.keys = new ControlKeys(this, 'Keys', name);
    this.runners = new RunnerRoles(this, 'Runners', name, this.network);
    this.control = new ControlService(this, 'Control', {
      settings,
      network: this.network,
      cluster: this.cluster,
      database: this.database,
      keys: this.keys,
      runners: this.runners,
      capacityProviders: this.capacity.capacityProviders,
    });
    this.alarms = new Alarms(this, 'Alarms', {
      name,
      topic: this.alarmTopic,
      cluster: this.cluster,
      loadBalancer: this.control.loadBalancer,
      targetGroup: this.control.targetGroup,
      groups: this.capacity.groups,
      fiveXxPercent: settings.alarm5xxPercent,
    });
    new CfnOutput(this, 'AlarmTopicArn', { value: this.alarmTopic.topicArn });
    new CfnOutput(this, 'ClusterName', { value: this.cluster.clusterName });
  }
}
