/**
 * GPU capacity: per machine type an Auto Scaling group of ECS-optimised GPU instances that starts
 * at zero, and a capacity provider over it. Managed scaling grows the group when RunTask asks for a
 * task no instance can hold and shrinks it when instances sit empty; managed termination
 * protection keeps any instance that runs a task, so scale-in never takes a busy runner's machine.
 * An optional warm pool keeps stopped instances (paying only for their disks) that start faster
 * than new ones.
 */
import { Aws, Validations } from 'aws-cdk-lib';
import * as autoscaling from 'aws-cdk-lib/aws-autoscaling';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as ecs from 'aws-cdk-lib/aws-ecs';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as sns from 'aws-cdk-lib/aws-sns';
import { Construct } from 'constructs';
import { capacityProviderName, idOf } from './names.ts';
import type { Network } from './network.ts';
import type { MachinePool } from './settings.ts';

export interface GpuCapacityProps {
  name: string;
  cluster: ecs.Cluster;
  network: Network;
  machineTypes: Record<string, MachinePool>;
  /** Launch errors of every group are sent here. */
  alarmTopic: sns.ITopic;
}

/** Root volume of each instance: GPU app images are often tens of gigabytes. */
const ROOT_VOLUME_GIB = 200;

export class GpuCapacity extends Construct {
  /** Machine type → capacity provider name: control's GANTRY_ECS_CAPACITY_PROVIDERS. */
  readonly capacityProviders: Record<string, string> = {};
  readonly groups: autoscaling.AutoScalingGroup[] = [];
  readonly instanceSg: ec2.SecurityGroup;

  constructor(scope: Construct, id: string, props: GpuCapacityProps) {
    super(scope, id);
    const { cluster, network } = props;
    // Tasks use awsvpc and have their own security group; the instance itself only reaches out
    // (ECS agent, image pulls).
    this.instanceSg = new ec2.SecurityGroup(this, 'InstanceSg', {
      vpc: network.vpc,
      description: 'GPU container instances: outbound only',
      allowAllOutbound: true,
    });
    network.allowEndpoints(this.instanceSg);
    const role = new iam.Role(this, 'InstanceRole', {
      assumedBy: new iam.ServicePrincipal('ec2.amazonaws.com'),
      description: 'ECS container instances of the GPU groups',
    });
    // The ECS agent's rights, narrower than the set CDK would attach: image pulls and task logs
    // go through each task's execution role, so the instance needs neither ECR nor Logs.
    const p = `arn:${Aws.PARTITION}:ecs:${Aws.REGION}:${Aws.ACCOUNT_ID}`;
    role.addToPolicy(
      new iam.PolicyStatement({
        actions: [
          'ecs:RegisterContainerInstance',
          'ecs:DeregisterContainerInstance',
          'ecs:SubmitContainerStateChange',
          'ecs:SubmitTaskStateChange',
          'ecs:SubmitAttachmentStateChanges',
        ],
        resources: [cluster.clusterArn],
      }),
    );
    role.addToPolicy(
      new iam.PolicyStatement({
        actions: ['ecs:Poll', 'ecs:StartTelemetrySession'],
        resources: [`${p}:container-instance/${props.name}/*`],
        conditions: { ArnEquals: { 'ecs:cluster': cluster.clusterArn } },
      }),
    );
    role.addToPolicy(new iam.PolicyStatement({ actions: ['ecs:DiscoverPollEndpoint'], resources: ['*'] }));
    // Handed to the groups without the right to add policies, so CDK's broader defaults are dropped.
    const instanceRole = role.withoutPolicyUpdates();

    for (const [machineType, pool] of Object.entries(props.machineTypes)) {
      const mid = idOf(machineType);
      const userData = ec2.UserData.forLinux();
      // Tasks act with their own roles; they must not reach the instance's credentials.
      userData.addCommands('echo ECS_AWSVPC_BLOCK_IMDS=true >> /etc/ecs/ecs.config');
      if (pool.warmPool > 0) {
        // Without this, an instance leaving the warm pool would register with ECS while stopped.
        userData.addCommands('echo ECS_WARM_POOLS_CHECK=true >> /etc/ecs/ecs.config');
      }
      const template = new ec2.LaunchTemplate(this, `${mid}Template`, {
        instanceType: new ec2.InstanceType(pool.instanceType),
        machineImage: ecs.EcsOptimizedImage.amazonLinux2023(ecs.AmiHardwareType.GPU),
        userData,
        role: instanceRole,
        securityGroup: this.instanceSg,
        requireImdsv2: true,
        detailedMonitoring: true,
        blockDevices: [
          {
            deviceName: '/dev/xvda',
            volume: ec2.BlockDeviceVolume.ebs(ROOT_VOLUME_GIB, {
              encrypted: true,
              volumeType: ec2.EbsDeviceVolumeType.GP3,
            }),
          },
        ],
      });
      const group = new autoscaling.AutoScalingGroup(this, `${mid}Group`, {
        vpc: network.vpc,
        vpcSubnets: network.privateSubnets,
        launchTemplate: template,
        minCapacity: 0,
        maxCapacity: pool.maxInstances,
        // Launch failures (no GPU capacity in the zone, a quota) reach whoever watches the alarms.
        notifications: [{ topic: props.alarmTopic, scalingEvents: autoscaling.ScalingEvents.ERRORS }],
      });
      if (pool.warmPool > 0) {
        group.addWarmPool({
          minSize: pool.warmPool,
          poolState: autoscaling.PoolState.STOPPED,
          reuseOnScaleIn: true,
        });
      }
      const providerName = capacityProviderName(props.name, machineType);
      const provider = new ecs.AsgCapacityProvider(this, `${mid}Provider`, {
        capacityProviderName: providerName,
        autoScalingGroup: group,
        enableManagedScaling: true,
        enableManagedTerminationProtection: true,
        targetCapacityPercent: 100,
        // A GPU instance takes minutes to boot: start its metrics counting only once it can work.
        instanceWarmupPeriod: 180,
      });
      cluster.addAsgCapacityProvider(provider);
      this.capacityProviders[machineType] = providerName;
      Validations.of(group).acknowledge({
        id: 'AwsSolutions-AS3',
        reason:
          'Launch and termination errors are notified (and alarmed); notices of every scale event would page on each cold start',
      });
      this.groups.push(group);
    }
    Validations.of(role).acknowledge(
      {
        id: 'AwsSolutions-IAM5[Resource::*]',
        reason: 'ecs:DiscoverPollEndpoint has no resource-level permission',
      },
      {
        id: `AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:ecs:<AWS::Region>:<AWS::AccountId>:container-instance/${props.name}/*]`,
        reason:
          'Container instances come and go with the groups; those of this cluster are the narrowest scope',
      },
    );
  }
}
