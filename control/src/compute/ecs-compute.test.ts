/**
 * The ECS driver against the AWS SDK's client mock: exact commands and inputs, answered with the
 * shapes ECS returns and the errors the SDK raises (constructed as the SDK does: a named error
 * with `$fault` and `$metadata`). The mock replaces `send`, so the SDK's retries never run here:
 * ecs-client.test.ts tests those against a stand-in HTTP handler.
 */
import {
  ClientException,
  ClusterNotFoundException,
  DescribeTasksCommand,
  ECSClient,
  InvalidParameterException,
  RegisterTaskDefinitionCommand,
  RunTaskCommand,
  StopTaskCommand,
} from '@aws-sdk/client-ecs';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it } from 'vitest';
import { openRunnerToken } from '../../../contract/src/runner-token-seal.ts';
import type { Revision } from '../domain.ts';
import { isSchedulingFailure, type RunnerExit, type RunnerSpec } from './compute-driver.ts';
import { EcsCompute, type EcsComputeOptions } from './ecs-compute.ts';

const ecs = mockClient(ECSClient);
const ACCOUNT = '123456789012';
const CLUSTER_ARN = `arn:aws:ecs:us-east-1:${ACCOUNT}:cluster/gantry`;
const TD_ARN = `arn:aws:ecs:us-east-1:${ACCOUNT}:task-definition/gantry-envabc-r3-gpua10g:1`;
const TASK_ARN = `arn:aws:ecs:us-east-1:${ACCOUNT}:task/gantry/0f3c1e7a9b2d4c6e8f0a1b2c3d4e5f60`;
const IMAGE = `${ACCOUNT}.dkr.ecr.us-east-1.amazonaws.com/acme/sd@sha256:${'a'.repeat(64)}`;
const meta = (httpStatusCode: number) => ({
  httpStatusCode,
  requestId: 'b7a4c7e2-8f0e-4b8a-9a43-2f1f3c0d9e11',
  attempts: 1,
  totalRetryDelay: 0,
});

const revision: Revision = {
  id: 'rev-3',
  environment_id: 'env-abc',
  number: 3,
  image: IMAGE,
  command: null,
  cwd: null,
  settings: { max_multiplexing: 2, startup_timeout: 600, machine_type: ['GPU-A10G', 'GPU-L4'] },
  commit_sha: null,
  message: null,
  annotations: {},
  created_by: null,
  created_at: 0,
};
const SECRET_ARN = `arn:aws:secretsmanager:us-east-1:${ACCOUNT}:secret:gantry/env-abc/HF_TOKEN-a1b2c3`;
const KEY_ARN = `arn:aws:secretsmanager:us-east-1:${ACCOUNT}:secret:gantry/env-abc/gantry-runner-key-d4e5f6`;
const RUNNER_KEY = Buffer.alloc(32, 7).toString('base64url');
const spec = (runnerId = 'runner-1', app: Record<string, string> = { HF_TOKEN: SECRET_ARN }): RunnerSpec => ({
  runnerId,
  token: 'tok',
  controlUrl: 'https://control.internal:8080',
  environmentId: 'env-abc',
  revision,
  env: {},
  secrets: { app, runnerKey: { value: RUNNER_KEY, valueFrom: KEY_ARN } },
});

const timers: (() => void)[] = [];
function driver(o: Partial<EcsComputeOptions> = {}): EcsCompute {
  return new EcsCompute({
    client: new ECSClient({ region: 'us-east-1' }),
    cluster: 'gantry',
    subnets: ['subnet-0a1b2c3d'],
    securityGroups: ['sg-0123456789abcdef0'],
    capacityProviders: { 'GPU-A10G': 'gantry-g5', 'GPU-L4': 'gantry-g6' },
    runnerImage: `${ACCOUNT}.dkr.ecr.us-east-1.amazonaws.com/gantry/runner@sha256:${'b'.repeat(64)}`,
    logGroup: '/gantry/runners',
    region: 'us-east-1',
    executionRoleArn: `arn:aws:iam::${ACCOUNT}:role/gantry-task-execution`,
    drainGraceSeconds: 30,
    setTimer: (fn) => {
      timers.push(fn);
      return { cancel: () => timers.splice(timers.indexOf(fn), 1) };
    },
    ...o,
  });
}

const registered = {
  taskDefinition: {
    taskDefinitionArn: TD_ARN,
    family: 'gantry-envabc-r3-gpua10g',
    revision: 1,
    status: 'ACTIVE' as const,
  },
};
const runTaskOk = {
  tasks: [
    {
      taskArn: TASK_ARN,
      clusterArn: CLUSTER_ARN,
      taskDefinitionArn: TD_ARN,
      lastStatus: 'PROVISIONING',
      desiredStatus: 'RUNNING',
      capacityProviderName: 'gantry-g5',
      startedBy: 'gantry',
      containers: [
        { name: 'app', lastStatus: 'PENDING', taskArn: TASK_ARN },
        { name: 'runner', lastStatus: 'PENDING', taskArn: TASK_ARN },
      ],
    },
  ],
  failures: [],
};
const noGpu = {
  tasks: [],
  failures: [
    { arn: `arn:aws:ecs:us-east-1:${ACCOUNT}:container-instance/gantry/5d3e`, reason: 'RESOURCE:GPU' },
  ],
};
beforeEach(() => {
  ecs.reset();
  timers.length = 0;
});

describe('EcsCompute.start', () => {
  it('registers one task definition per revision (app + runner sidecar) and runs one task per runner', async () => {
    ecs.on(RegisterTaskDefinitionCommand).resolves(registered).on(RunTaskCommand).resolves(runTaskOk);
    const d = driver();
    await d.start(spec());
    await d.start(spec('runner-2'));

    const reg = ecs.commandCalls(RegisterTaskDefinitionCommand);
    expect(reg).toHaveLength(1);
    expect(reg[0]!.args[0].input).toEqual({
      family: 'gantry-envabc-r3-gpua10g',
      networkMode: 'awsvpc',
      requiresCompatibilities: ['EC2'],
      cpu: '3584',
      memory: '14336',
      executionRoleArn: `arn:aws:iam::${ACCOUNT}:role/gantry-task-execution`,
      containerDefinitions: [
        {
          name: 'app',
          image: IMAGE,
          essential: true,
          cpu: 3328,
          memory: 13_952,
          resourceRequirements: [{ type: 'GPU', value: '1' }],
          portMappings: [{ containerPort: 8000, protocol: 'tcp' }],
          environment: [{ name: 'PORT', value: '8000' }],
          secrets: [{ name: 'HF_TOKEN', valueFrom: SECRET_ARN }],
          // FireLens: Fluent Bit's http output to the runner's intake on the task's loopback.
          logConfiguration: {
            logDriver: 'awsfirelens',
            options: {
              Name: 'http',
              Host: '127.0.0.1',
              Port: '24280',
              URI: '/',
              Format: 'json_lines',
              Retry_Limit: 'no_limits',
            },
          },
          dependsOn: [{ containerName: 'log_router', condition: 'START' }],
          stopTimeout: 30,
        },
        {
          name: 'runner',
          image: expect.stringContaining('gantry/runner@sha256:'),
          essential: true,
          cpu: 256,
          memory: 256,
          dependsOn: [{ containerName: 'app', condition: 'START' }],
          portMappings: [{ containerPort: 24280, protocol: 'tcp' }],
          environment: [
            { name: 'GANTRY_APP_PORT', value: '8000' },
            { name: 'GANTRY_APP_OUTPUT', value: 'http' },
            { name: 'GANTRY_APP_OUTPUT_PORT', value: '24280' },
            { name: 'GANTRY_MAX_MULTIPLEXING', value: '2' },
            { name: 'GANTRY_STARTUP_TIMEOUT', value: '600' },
            { name: 'GANTRY_DRAIN_GRACE', value: '30' },
            { name: 'AWS_REGION', value: 'us-east-1' },
          ],
          secrets: [{ name: 'GANTRY_RUNNER_KEY', valueFrom: KEY_ARN }],
          logConfiguration: expect.objectContaining({ logDriver: 'awslogs' }),
          stopTimeout: 40,
        },
        {
          name: 'log_router',
          image: 'public.ecr.aws/aws-observability/aws-for-fluent-bit:stable',
          essential: false,
          memory: 128,
          firelensConfiguration: { type: 'fluentbit' },
          // The router's own logs stay in CloudWatch.
          logConfiguration: {
            logDriver: 'awslogs',
            options: {
              'awslogs-group': '/gantry/runners',
              'awslogs-region': 'us-east-1',
              'awslogs-stream-prefix': 'gantry-envabc-r3-gpua10g/log_router',
              'awslogs-create-group': 'true',
            },
          },
          stopTimeout: 10,
        },
      ],
      tags: [{ key: 'gantry:revision', value: '3' }],
    });

    const runs = ecs.commandCalls(RunTaskCommand);
    expect(runs).toHaveLength(2);
    expect(runs[0]!.args[0].input).toEqual({
      cluster: 'gantry',
      taskDefinition: TD_ARN,
      count: 1,
      capacityProviderStrategy: [{ capacityProvider: 'gantry-g5', weight: 1, base: 0 }],
      networkConfiguration: {
        awsvpcConfiguration: {
          subnets: ['subnet-0a1b2c3d'],
          securityGroups: ['sg-0123456789abcdef0'],
          assignPublicIp: 'DISABLED',
        },
      },
      overrides: {
        containerOverrides: [
          {
            name: 'runner',
            environment: [
              { name: 'GANTRY_CONTROL_URL', value: 'https://control.internal:8080' },
              { name: 'GANTRY_RUNNER_ID', value: 'runner-1' },
              { name: 'GANTRY_RUNNER_TOKEN_SEALED', value: expect.any(String) },
            ],
          },
        ],
      },
      startedBy: 'gantry',
      clientToken: 'runner-1-GPU-A10G',
      tags: [
        { key: 'gantry:runner', value: 'runner-1' },
        { key: 'gantry:environment', value: 'env-abc' },
        { key: 'gantry:revision', value: '3' },
      ],
    });
  });

  it('gives the runner sidecar its own settings (the SQS queues) and the app only its secrets', async () => {
    ecs.on(RegisterTaskDefinitionCommand).resolves(registered).on(RunTaskCommand).resolves(runTaskOk);
    await driver().start({
      ...spec(),
      runnerEnv: { GANTRY_SQS_QUEUE_URL: 'https://sqs.eu-west-1.amazonaws.com/1/gantry-abc' },
      drainGraceSeconds: 900,
    });
    const overrides = ecs.commandCalls(RunTaskCommand)[0]!.args[0].input.overrides?.containerOverrides ?? [];
    const envOf = (name: string) => overrides.find((c) => c.name === name)?.environment ?? [];
    expect(envOf('runner')).toContainEqual({
      name: 'GANTRY_SQS_QUEUE_URL',
      value: 'https://sqs.eu-west-1.amazonaws.com/1/gantry-abc',
    });
    // The environment's termination_grace_period_seconds, not the task definition's default.
    expect(envOf('runner')).toContainEqual({ name: 'GANTRY_DRAIN_GRACE', value: '900' });
    // No override for the app at all: its secrets are references in the task definition.
    expect(overrides.map((c) => c.name)).toEqual(['runner']);
    // The token travels sealed; only the runner key (from Secrets Manager) opens it, for this runner.
    const sealed = envOf('runner').find((e) => e.name === 'GANTRY_RUNNER_TOKEN_SEALED')!.value!;
    expect(sealed).not.toContain('tok');
    expect(openRunnerToken(RUNNER_KEY, 'runner-1', sealed)).toBe('tok');
    expect(() => openRunnerToken(RUNNER_KEY, 'runner-2', sealed)).toThrow(/does not open/);
  });

  it('num_gpus asks ECS for that many GPUs (with their CPU and memory); a task role per app from the template', async () => {
    ecs.on(RegisterTaskDefinitionCommand).resolves(registered).on(RunTaskCommand).resolves(runTaskOk);
    const d = driver({ taskRoleArn: `arn:aws:iam::${ACCOUNT}:role/gantry-app-{owner}-{name}-{env}` });
    expect(d.directQueueAccess).toBe(false);
    await d.start({
      ...spec(),
      app: { owner: 'acme', name: 'sdxl', environment: 'staging' },
      revision: { ...revision, settings: { ...revision.settings, num_gpus: 4 } },
    });
    const input = ecs.commandCalls(RegisterTaskDefinitionCommand)[0]!.args[0].input;
    expect(input.taskRoleArn).toBe(`arn:aws:iam::${ACCOUNT}:role/gantry-app-acme-sdxl-staging`);
    expect(input.cpu).toBe(String(3584 * 4));
    expect(input.memory).toBe(String(14_336 * 4));
    expect(input.containerDefinitions![0]!.resourceRequirements).toEqual([{ type: 'GPU', value: '4' }]);
    // A template naming the app, for a runner that has none: refused, not a shared role.
    await expect(
      driver({ taskRoleArn: 'arn:aws:iam::1:role/app-{name}' }).start(spec('runner-9')),
    ).rejects.toThrow(/names the app/);
  });

  it('never takes secret values, and registers a new task definition when the secret names change', async () => {
    ecs.on(RegisterTaskDefinitionCommand).resolves(registered).on(RunTaskCommand).resolves(runTaskOk);
    const d = driver();
    await expect(d.start({ ...spec(), env: { HF_TOKEN: 'hf_plain' } })).rejects.toThrow(/by reference only/);
    const { secrets: _, ...bare } = spec();
    await expect(d.start(bare)).rejects.toThrow(/by reference only/);
    expect(ecs.commandCalls(RunTaskCommand)).toHaveLength(0);

    await d.start(spec('runner-1'));
    await d.start(spec('runner-2'));
    await d.start(spec('runner-3', { HF_TOKEN: SECRET_ARN, WANDB_KEY: `${SECRET_ARN}x` }));
    expect(ecs.commandCalls(RegisterTaskDefinitionCommand)).toHaveLength(2);
  });

  it('falls back to the next machine type when the first has no GPU free', async () => {
    ecs
      .on(RegisterTaskDefinitionCommand)
      .resolves(registered)
      .on(RunTaskCommand, {
        capacityProviderStrategy: [{ capacityProvider: 'gantry-g5', weight: 1, base: 0 }],
      })
      .resolves(noGpu)
      .on(RunTaskCommand, {
        capacityProviderStrategy: [{ capacityProvider: 'gantry-g6', weight: 1, base: 0 }],
      })
      .resolves(runTaskOk);
    await driver().start(spec());
    const families = ecs.commandCalls(RegisterTaskDefinitionCommand).map((c) => c.args[0].input.family);
    expect(families).toEqual(['gantry-envabc-r3-gpua10g', 'gantry-envabc-r3-gpul4']);
    expect(ecs.commandCalls(RunTaskCommand)).toHaveLength(2);
  });

  it('no room on any machine type is a runner_scheduling_failure naming each', async () => {
    ecs
      .on(RegisterTaskDefinitionCommand)
      .resolves(registered)
      .on(RunTaskCommand)
      .resolvesOnce(noGpu)
      .resolvesOnce({
        tasks: [],
        failures: [{ reason: 'No Container Instances were found in your cluster.' }],
      });
    const err = await driver()
      .start(spec())
      .catch((e: unknown) => e);
    expect(isSchedulingFailure(err)).toBe(true);
    expect((err as Error).message).toBe(
      'no capacity for the runner: GPU-A10G: RESOURCE:GPU; GPU-L4: No Container Instances were found in your cluster.',
    );
  });

  it('a capacity provider ECS rejects is a scheduling failure too', async () => {
    ecs
      .on(RegisterTaskDefinitionCommand)
      .resolves(registered)
      .on(RunTaskCommand)
      .rejects(
        new InvalidParameterException({
          $metadata: meta(400),
          message:
            'The specified capacity provider strategy cannot contain a capacity provider that is not associated with the cluster. Associate the capacity provider with the cluster or specify a valid capacity provider and try again.',
        }),
      );
    const err = await driver({ capacityProviders: { 'GPU-A10G': 'gantry-g5' } })
      .start(spec())
      .catch((e: unknown) => e);
    expect(isSchedulingFailure(err)).toBe(true);
    expect((err as Error).message).toMatch(
      /GPU-A10G: capacity provider gantry-g5: The specified capacity provider/,
    );
    expect(ecs.commandCalls(RunTaskCommand)).toHaveLength(1);
  });

  it('a missing cluster is reported with the setting to fix, not retried', async () => {
    ecs
      .on(RegisterTaskDefinitionCommand)
      .resolves(registered)
      .on(RunTaskCommand)
      .rejects(new ClusterNotFoundException({ $metadata: meta(400), message: 'Cluster not found.' }));
    await expect(driver().start(spec())).rejects.toThrow(
      'ECS cluster "gantry" not found: check GANTRY_ECS_CLUSTER (Cluster not found.)',
    );
    expect(ecs.commandCalls(RunTaskCommand)).toHaveLength(1);
  });

  it('a task definition deregistered behind its back is registered again', async () => {
    ecs
      .on(RegisterTaskDefinitionCommand)
      .resolves(registered)
      .on(RunTaskCommand)
      .resolvesOnce(runTaskOk)
      .rejectsOnce(new ClientException({ $metadata: meta(400), message: 'TaskDefinition is inactive' }))
      .resolves(runTaskOk);
    const d = driver();
    await d.start(spec());
    await d.start(spec('runner-2'));
    expect(ecs.commandCalls(RegisterTaskDefinitionCommand)).toHaveLength(2);
    expect(ecs.commandCalls(RunTaskCommand)).toHaveLength(3);
  });

  it('refuses a revision without an image', async () => {
    await expect(driver().start({ ...spec(), revision: { ...revision, image: null } })).rejects.toThrow(
      /has no image/,
    );
  });
});

describe('EcsCompute stop, kill and exits', () => {
  async function started(): Promise<{ d: EcsCompute; exits: RunnerExit[] }> {
    ecs.on(RegisterTaskDefinitionCommand).resolves(registered).on(RunTaskCommand).resolves(runTaskOk);
    const d = driver();
    const exits: RunnerExit[] = [];
    d.onExit((e) => exits.push(e));
    await d.start(spec());
    return { d, exits };
  }

  it('kill stops the task at once', async () => {
    const { d } = await started();
    ecs.on(StopTaskCommand).resolves({ task: { taskArn: TASK_ARN, desiredStatus: 'STOPPED' } });
    await d.kill('runner-1');
    expect(ecs.commandCalls(StopTaskCommand)[0]!.args[0].input).toEqual({
      cluster: 'gantry',
      task: TASK_ARN,
      reason: 'gantry: runner killed',
    });
    await d.close();
  });

  it('stop lets the runner drain itself; StopTask is only the backstop after the grace', async () => {
    const { d } = await started();
    ecs.on(StopTaskCommand).resolves({ task: { taskArn: TASK_ARN } });
    await d.stop('runner-1');
    expect(ecs.commandCalls(StopTaskCommand)).toHaveLength(0);
    expect(timers).toHaveLength(1);
    timers[0]!();
    await new Promise((r) => setImmediate(r));
    expect(ecs.commandCalls(StopTaskCommand)[0]!.args[0].input.reason).toBe('gantry: drain grace over');
    await d.close();
  });

  it('reports a stopped task with the runner container exit code', async () => {
    const { d, exits } = await started();
    ecs.on(DescribeTasksCommand).resolves({
      tasks: [
        {
          taskArn: TASK_ARN,
          lastStatus: 'STOPPED',
          desiredStatus: 'STOPPED',
          stopCode: 'EssentialContainerExited',
          stoppedReason: 'Essential container in task exited',
          containers: [
            { name: 'runner', lastStatus: 'STOPPED', exitCode: 0 },
            { name: 'app', lastStatus: 'STOPPED', exitCode: 137 },
          ],
        },
      ],
      failures: [],
    });
    await d.poll();
    expect(ecs.commandCalls(DescribeTasksCommand)[0]!.args[0].input).toEqual({
      cluster: 'gantry',
      tasks: [TASK_ARN],
    });
    expect(exits).toEqual([
      {
        runnerId: 'runner-1',
        code: 0,
        signal: null,
        tail: ['EssentialContainerExited: Essential container in task exited', 'app exited with code 137'],
      },
    ]);
    await d.poll();
    expect(ecs.commandCalls(DescribeTasksCommand)).toHaveLength(1);
    await d.close();
  });

  it('a task that never got an instance moves to the next machine type; after the last, a scheduling failure', async () => {
    const { d, exits } = await started();
    const second = `${TASK_ARN.slice(0, -4)}beef`;
    ecs.on(RunTaskCommand).resolves({ tasks: [{ ...runTaskOk.tasks[0]!, taskArn: second }], failures: [] });
    const noInstance = (taskArn: string) => ({
      taskArn,
      lastStatus: 'STOPPED',
      stopCode: 'TaskFailedToStart' as const,
      stoppedReason: 'Timeout waiting for EC2 capacity',
      containers: [{ name: 'runner', lastStatus: 'STOPPED' }],
    });
    ecs.on(DescribeTasksCommand).resolves({ tasks: [noInstance(TASK_ARN)] });
    await d.poll();
    expect(exits).toEqual([]);
    const runs = ecs.commandCalls(RunTaskCommand);
    expect(runs.at(-1)!.args[0].input.capacityProviderStrategy).toEqual([
      { capacityProvider: 'gantry-g6', weight: 1, base: 0 },
    ]);
    ecs.on(DescribeTasksCommand).resolves({ tasks: [noInstance(second)] });
    await d.poll();
    expect(exits[0]).toMatchObject({ runnerId: 'runner-1', code: null, schedulingFailure: true });
    expect(exits[0]!.tail.join(' ')).toContain('GPU-L4');
    await d.close();
  });

  it('a task still PROVISIONING after the capacity window is stopped and the next machine type tried', async () => {
    let now = 1_000_000;
    ecs.on(RegisterTaskDefinitionCommand).resolves(registered).on(RunTaskCommand).resolves(runTaskOk);
    const d = driver({ capacityWindowMs: 120_000, now: () => now });
    const exits: RunnerExit[] = [];
    d.onExit((e) => exits.push(e));
    await d.start(spec());
    ecs.on(DescribeTasksCommand).resolves({ tasks: [{ taskArn: TASK_ARN, lastStatus: 'PROVISIONING' }] });
    ecs.on(StopTaskCommand).resolves({});
    now += 119_000;
    await d.poll();
    expect(ecs.commandCalls(StopTaskCommand)).toHaveLength(0);
    now += 2_000;
    await d.poll();
    expect(ecs.commandCalls(StopTaskCommand)[0]!.args[0].input).toMatchObject({ task: TASK_ARN });
    expect(ecs.commandCalls(RunTaskCommand).at(-1)!.args[0].input.capacityProviderStrategy).toEqual([
      { capacityProvider: 'gantry-g6', weight: 1, base: 0 },
    ]);
    expect(exits).toEqual([]);
    await d.close();
  });

  it('reports PULLING when ECS starts the pull, then the pull time, once each', async () => {
    const { d } = await started();
    const progress: string[] = [];
    d.onProgress((p) => progress.push(`${p.state}: ${p.detail}`));
    const pulling = { taskArn: TASK_ARN, lastStatus: 'PENDING', pullStartedAt: new Date(1_000_000) };
    ecs.on(DescribeTasksCommand).resolves({ tasks: [pulling] });
    await d.poll();
    await d.poll();
    ecs.on(DescribeTasksCommand).resolves({ tasks: [{ ...pulling, pullStoppedAt: new Date(1_042_500) }] });
    await d.poll();
    await d.poll();
    expect(progress).toEqual(['PULLING: pulling the image', 'PULLING: image pulled in 42.5 s']);
    await d.close();
  });

  it('a task ECS no longer knows is reported as ended', async () => {
    const { d, exits } = await started();
    ecs.on(DescribeTasksCommand).resolves({ tasks: [], failures: [{ arn: TASK_ARN, reason: 'MISSING' }] });
    await d.poll();
    expect(exits).toEqual([
      { runnerId: 'runner-1', code: null, signal: null, tail: ['the ECS task no longer exists'] },
    ]);
    await d.close();
  });
});
