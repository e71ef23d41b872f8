/**
 * Alarms worth waking up for, all to one SNS topic: requests dead-lettered (their queue's DLQ is
 * not empty), control answering 5xx, and GPU capacity that fails to come (an instance that cannot
 * launch, a task that gave up waiting for one). Each one means callers are failing now.
 */
import { Duration } from 'aws-cdk-lib';
import type * as autoscaling from 'aws-cdk-lib/aws-autoscaling';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as actions from 'aws-cdk-lib/aws-cloudwatch-actions';
import type * as ecs from 'aws-cdk-lib/aws-ecs';
import * as elbv2 from 'aws-cdk-lib/aws-elasticloadbalancingv2';
import * as events from 'aws-cdk-lib/aws-events';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import type * as sns from 'aws-cdk-lib/aws-sns';
import { Construct } from 'constructs';

export interface AlarmsProps {
  name: string;
  topic: sns.ITopic;
  cluster: ecs.ICluster;
  loadBalancer: elbv2.ApplicationLoadBalancer;
  targetGroup: elbv2.ApplicationTargetGroup;
  groups: autoscaling.AutoScalingGroup[];
  fiveXxPercent: number;
}

const FIVE_MINUTES = Duration.minutes(5);

export class Alarms extends Construct {
  readonly deadLetters: cloudwatch.CfnAlarm;
  readonly controlErrors: cloudwatch.Alarm;
  readonly controlDown: cloudwatch.Alarm;
  readonly capacity: cloudwatch.Alarm;

  constructor(scope: Construct, id: string, props: AlarmsProps) {
    super(scope, id);
    const { name, topic } = props;
    const notify = new actions.SnsAction(topic);

    // Control creates the queues at run time, so no alarm can name them: a Metrics Insights query
    // over the install's dead-letter queues follows them as they come and go.
    this.deadLetters = new cloudwatch.CfnAlarm(this, 'DeadLetters', {
      alarmDescription: `Gantry (${name}): requests were dead-lettered after their last attempt`,
      comparisonOperator: 'GreaterThanOrEqualToThreshold',
      threshold: 1,
      evaluationPeriods: 1,
      treatMissingData: 'notBreaching',
      metrics: [
        {
          id: 'dlq',
          returnData: true,
          period: 300,
          expression: `SELECT MAX(ApproximateNumberOfMessagesVisible) FROM SCHEMA("AWS/SQS", QueueName) WHERE QueueName LIKE '${name}-%-dlq'`,
        },
      ],
      alarmActions: [topic.topicArn],
    });

    const requests = props.loadBalancer.metrics.requestCount({ period: FIVE_MINUTES });
    const target5xx = props.targetGroup.metrics.httpCodeTarget(elbv2.HttpCodeTarget.TARGET_5XX_COUNT, {
      period: FIVE_MINUTES,
    });
    const lb5xx = props.loadBalancer.metrics.httpCodeElb(elbv2.HttpCodeElb.ELB_5XX_COUNT, {
      period: FIVE_MINUTES,
    });
    this.controlErrors = new cloudwatch.Alarm(this, 'ControlErrors', {
      alarmDescription: `Gantry (${name}): more than ${props.fiveXxPercent}% of control's answers are 5xx`,
      metric: new cloudwatch.MathExpression({
        expression: 'IF(requests > 0, 100 * (FILL(target, 0) + FILL(lb, 0)) / requests, 0)',
        usingMetrics: { requests, target: target5xx, lb: lb5xx },
        period: FIVE_MINUTES,
        label: '5xx %',
      }),
      threshold: props.fiveXxPercent,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
      evaluationPeriods: 3,
      datapointsToAlarm: 2,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    });
    this.controlErrors.addAlarmAction(notify);

    this.controlDown = new cloudwatch.Alarm(this, 'ControlDown', {
      alarmDescription: `Gantry (${name}): no control task passes the load balancer's health check`,
      metric: props.targetGroup.metrics.healthyHostCount({
        period: Duration.minutes(1),
        statistic: 'Minimum',
      }),
      threshold: 1,
      comparisonOperator: cloudwatch.ComparisonOperator.LESS_THAN_THRESHOLD,
      evaluationPeriods: 3,
      treatMissingData: cloudwatch.TreatMissingData.BREACHING,
    });
    this.controlDown.addAlarmAction(notify);

    // Capacity: EventBridge sees both failures as they happen; the rules forward each event to
    // the topic (with its reason) and the alarm counts them, so it shows in the console too.
    const launchFailed = new events.Rule(this, 'LaunchFailed', {
      description: `Gantry (${name}): a GPU instance could not be launched`,
      eventPattern: {
        source: ['aws.autoscaling'],
        detailType: ['EC2 Instance Launch Unsuccessful'],
        detail: { AutoScalingGroupName: props.groups.map((g) => g.autoScalingGroupName) },
      },
      targets: [new targets.SnsTopic(topic)],
    });
    const taskStarved = new events.Rule(this, 'TaskStarved', {
      description: `Gantry (${name}): a runner task gave up waiting for capacity`,
      eventPattern: {
        source: ['aws.ecs'],
        detailType: ['ECS Task State Change'],
        detail: {
          clusterArn: [props.cluster.clusterArn],
          lastStatus: ['STOPPED'],
          stopCode: ['TaskFailedToStart'],
          stoppedReason: events.Match.wildcard('*apacity*'),
        },
      },
      targets: [new targets.SnsTopic(topic)],
    });
    const triggered = (rule: events.Rule) =>
      new cloudwatch.Metric({
        namespace: 'AWS/Events',
        metricName: 'TriggeredRules',
        dimensionsMap: { RuleName: rule.ruleName },
        statistic: 'Sum',
        period: FIVE_MINUTES,
      });
    this.capacity = new cloudwatch.Alarm(this, 'CapacityFailed', {
      alarmDescription: `Gantry (${name}): GPU capacity failed to provision`,
      metric: new cloudwatch.MathExpression({
        expression: 'FILL(launch, 0) + FILL(starved, 0)',
        usingMetrics: { launch: triggered(launchFailed), starved: triggered(taskStarved) },
        period: FIVE_MINUTES,
        label: 'capacity failures',
      }),
      threshold: 1,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      evaluationPeriods: 1,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    });
    this.capacity.addAlarmAction(notify);
  }
}
