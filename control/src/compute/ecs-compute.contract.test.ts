/**
 * The ECS driver through the compute contract, against aws-sdk-client-mock answering as a small
 * in-memory ECS would (tasks RUNNING after RunTask, STOPPED after StopTask, DescribeTasks reading
 * them back). A stand-in that runs real tasks is a later step; this one checks the driver's side.
 */
import {
  DescribeTasksCommand,
  ECSClient,
  InvalidParameterException,
  RegisterTaskDefinitionCommand,
  RunTaskCommand,
  StopTaskCommand,
  type Task,
} from '@aws-sdk/client-ecs';
import { mockClient } from 'aws-sdk-client-mock';
import type { Revision } from '../domain.ts';
import { computeContract } from './compute.contract.ts';
import { EcsCompute } from './ecs-compute.ts';

const ACCOUNT = '123456789012';
const ecs = mockClient(ECSClient);

const revision = (number: number, image: string | null): Revision => ({
  id: `rev-${number}`,
  environment_id: 'env-contract',
  number,
  image,
  command: null,
  cwd: null,
  settings: { max_multiplexing: 1, startup_timeout: 60, machine_type: ['GPU-A10G'] },
  commit_sha: null,
  message: null,
  annotations: {},
  created_by: null,
  created_at: 0,
});

computeContract('ECS (aws-sdk-client-mock)', async () => {
  const tasks = new Map<string, Task & { runnerId: string }>();
  let next = 0;
  ecs.reset();
  ecs
    .on(RegisterTaskDefinitionCommand)
    .callsFake((input: { family?: string }) => ({
      taskDefinition: {
        taskDefinitionArn: `arn:aws:ecs:us-east-1:${ACCOUNT}:task-definition/${input.family}:1`,
      },
    }))
    .on(RunTaskCommand)
    .callsFake((input: { tags?: { key?: string; value?: string }[] }) => {
      const runnerId = input.tags?.find((t) => t.key === 'gantry:runner')?.value ?? '';
      const taskArn = `arn:aws:ecs:us-east-1:${ACCOUNT}:task/gantry/${(++next).toString(16).padStart(32, '0')}`;
      const task = { taskArn, runnerId, lastStatus: 'RUNNING', desiredStatus: 'RUNNING' };
      tasks.set(taskArn, task);
      return { tasks: [{ taskArn, lastStatus: 'PROVISIONING' }], failures: [] };
    })
    .on(StopTaskCommand)
    .callsFake((input: { task?: string; reason?: string }) => {
      const task = tasks.get(input.task ?? '');
      if (!task) {
        throw new InvalidParameterException({
          $metadata: { httpStatusCode: 400 },
          message: 'The referenced task was not found.',
        });
      }
      stopTask(task, 'UserInitiated', input.reason ?? '', 143);
      return { task: { taskArn: task.taskArn, desiredStatus: 'STOPPED' } };
    })
    .on(DescribeTasksCommand)
    .callsFake((input: { tasks?: string[] }) => ({
      tasks: (input.tasks ?? []).flatMap((arn) => {
        const t = tasks.get(arn);
        return t ? [{ ...t, runnerId: undefined }] : [];
      }),
      failures: (input.tasks ?? [])
        .filter((arn) => !tasks.has(arn))
        .map((arn) => ({ arn, reason: 'MISSING' })),
    }));

  function stopTask(task: Task & { runnerId: string }, stopCode: string, reason: string, code: number) {
    Object.assign(task, {
      lastStatus: 'STOPPED',
      desiredStatus: 'STOPPED',
      stopCode,
      stoppedReason: reason,
      containers: [{ name: 'runner', lastStatus: 'STOPPED', exitCode: code }],
    });
  }

  const compute = new EcsCompute({
    client: new ECSClient({ region: 'us-east-1' }),
    cluster: 'gantry',
    subnets: ['subnet-0a1b2c3d'],
    securityGroups: ['sg-0123456789abcdef0'],
    capacityProviders: { 'GPU-A10G': 'gantry-g5' },
    runnerImage: `${ACCOUNT}.dkr.ecr.us-east-1.amazonaws.com/gantry/runner@sha256:${'b'.repeat(64)}`,
    logGroup: '/gantry/runners',
    region: 'us-east-1',
    executionRoleArn: `arn:aws:iam::${ACCOUNT}:role/gantry-task-execution`,
    pollMs: 10,
    // No runner runs in these tasks to drain itself, so the drain grace is over at once and
    // stop() ends the task through its StopTask backstop.
    setTimer: (fn) => {
      const h = setImmediate(fn);
      return { cancel: () => clearImmediate(h) };
    },
  });
  return {
    compute,
    runnable: revision(3, `${ACCOUNT}.dkr.ecr.us-east-1.amazonaws.com/acme/sd@sha256:${'a'.repeat(64)}`),
    unrunnable: revision(7, null),
    isRunning: async (runnerId) =>
      [...tasks.values()].some((t) => t.runnerId === runnerId && t.lastStatus !== 'STOPPED'),
    crash: async (runnerId) => {
      const task = [...tasks.values()].find((t) => t.runnerId === runnerId);
      if (task) stopTask(task, 'EssentialContainerExited', 'Essential container in task exited', 137);
    },
    close: async () => {
      await compute.close();
      ecs.reset();
    },
  };
});
