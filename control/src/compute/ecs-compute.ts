/**
 * The ECS compute driver (GANTRY_COMPUTE=ecs): each runner is one ECS task started with RunTask,
 * holding three containers: the app (the revision's image, by digest, with its GPUs), the runner
 * as a sidecar that reaches the app on localhost (awsvpc networking) and control over HTTP, and a
 * FireLens log router that hands the app's output to the runner (ecs-firelens.ts).
 *
 * Why RunTask and not an ECS service per environment: the autoscaler decides *which* runner goes
 * (the longest idle one, never a busy one). A service only takes a desired count and picks the
 * tasks to stop itself; steering it needs scale-in protection on every busy task and a race
 * between protecting and decrementing. With RunTask each runner is a task Gantry starts and stops
 * by name, so a busy runner is never stopped by anyone but Gantry, which never stops one. (ECS task
 * scale-in protection, UpdateTaskProtection, applies only to service tasks and answers
 * TASK_NOT_VALID for standalone ones; the instance under a busy task is kept by the capacity
 * provider's managed termination protection, which holds any instance running a task.)
 *
 * Draining: control sets the runner's drain flag first, so the runner learns it at its next pull
 * or heartbeat, finishes its in-flight work and exits; the runner container is essential, so the
 * task ends with it. StopTask would SIGTERM the app and the runner together and cut in-flight
 * requests, so stop() only uses it as a backstop after the drain grace. kill() uses it at once.
 *
 * Task ends are observed by polling DescribeTasks (EventBridge task state events are the
 * production upgrade; polling needs no extra infrastructure).
 */

import { createHash } from 'node:crypto';
import {
  DescribeTasksCommand,
  type ECSClient,
  type KeyValuePair,
  ListTasksCommand,
  RegisterTaskDefinitionCommand,
  RunTaskCommand,
  StopTaskCommand,
  type Task,
} from '@aws-sdk/client-ecs';
import { RUNNER_ENV } from '../../../contract/src/runner-protocol.ts';
import { sealRunnerToken } from '../../../contract/src/runner-token-seal.ts';
import type { Revision } from '../domain.ts';
import { isAwsError } from './aws-errors.ts';
import {
  type ComputeDriver,
  isSchedulingFailure,
  type RunnerExit,
  type RunnerProgress,
  RunnerSchedulingError,
  type RunnerSpec,
} from './compute-driver.ts';
import {
  appLogsThroughRouter,
  DEFAULT_APP_OUTPUT_PORT,
  DEFAULT_LOG_ROUTER_IMAGE,
  LOG_ROUTER_CONTAINER,
  logRouterContainer,
} from './ecs-firelens.ts';
import { LOG_ROUTER, type MachineSize, RUNNER_SIDECAR, sizeOf } from './machine-types.ts';

export interface EcsComputeOptions {
  /** Built by createEcsClient (ecs-client.ts): its retry strategy is the only one; the driver calls once. */
  client: ECSClient;
  cluster: string;
  subnets: string[];
  securityGroups: string[];
  /** Gantry machine type → capacity provider name. */
  capacityProviders: Record<string, string>;
  runnerImage: string;
  logGroup: string;
  region: string;
  executionRoleArn: string;
  /**
   * The role the task's containers act as. `{owner}`, `{name}` and `{env}` are replaced by the
   * app's, so each app (or environment) can have a role of its own.
   */
  taskRoleArn?: string;
  /**
   * Give runners their SQS queues directly (then the task role needs SQS rights, and the app, which
   * shares the task's role, has them too). Default false: runners pull through control.
   */
  directQueueAccess?: boolean;
  /** Port the app listens on inside the task. */
  appPort?: number;
  /** The FireLens log router's image (Fluent Bit); default AWS's aws-for-fluent-bit:stable. */
  logRouterImage?: string;
  /** Loopback port the runner takes the app's output on from the log router (ecs-firelens.ts). */
  appOutputPort?: number;
  drainGraceSeconds?: number;
  /** How often task ends are looked for. */
  pollMs?: number;
  /**
   * How long a task may wait in PROVISIONING for an instance of one machine type (an Auto Scaling
   * group booting a GPU instance from zero takes minutes) before the next machine type is tried.
   */
  capacityWindowMs?: number;
  now?: () => number;
  /** Time source for the stop() backstop; tests pass their own timers. */
  setTimer?: (fn: () => void, ms: number) => { cancel(): void };
  log?: (msg: string, fields?: Record<string, unknown>) => void;
}

export const APP_CONTAINER = 'app';
export const RUNNER_CONTAINER = 'runner';
const DEFAULT_APP_PORT = 8000;
/** DescribeTasks takes at most 100 tasks a call. */
const DESCRIBE_BATCH = 100;
/** RunTask's startedBy, and ListTasks' filter after a restart. */
const STARTED_BY = 'gantry';

/** RunTask `failures[].reason` values that mean "no room for this task now". */
const CAPACITY_REASON = /^RESOURCE:|No Container Instances|capacity/i;
/** How a task that waited for capacity and got none ends (stoppedReason). */
const CAPACITY_STOP = /capacity|RESOURCE:|insufficient/i;

interface Tracked {
  taskArn: string;
  /** Absent for a task adopted after a restart: it is stopped or watched, never moved. */
  spec?: RunnerSpec;
  /** Index in the revision's machine_type list of the type this task runs on. */
  typeIndex: number;
  runAt: number;
  /** What of the pull was reported: its start, then its duration. */
  pullReported?: 'started' | 'done';
  backstop?: { cancel(): void };
  /** The runner's own drain grace (its environment's setting when it started). */
  drainGraceS?: number | undefined;
}

/** Ten minutes: a GPU instance boots in 80–120 s, and an Auto Scaling group may retry a launch. */
const DEFAULT_CAPACITY_WINDOW_MS = 10 * 60_000;

export class EcsCompute implements ComputeDriver {
  readonly boundsProvisioning = true;
  readonly secretsByReference = true;
  readonly directQueueAccess: boolean;
  private readonly tasks = new Map<string, Tracked>();
  private readonly taskDefinitions = new Map<string, string>();
  private readonly listeners: ((e: RunnerExit) => void)[] = [];
  private readonly progressListeners: ((p: RunnerProgress) => void)[] = [];
  private pollTimer: NodeJS.Timeout | undefined;
  private closed = false;

  constructor(private readonly o: EcsComputeOptions) {
    this.directQueueAccess = o.directQueueAccess ?? false;
  }

  async start(spec: RunnerSpec): Promise<void> {
    const rev = spec.revision;
    if (!rev.image) {
      throw new Error(`revision ${rev.number} has no image; the ECS driver runs container images only`);
    }
    // Anything in RunTask's overrides is readable through DescribeTasks and recorded by CloudTrail.
    if (Object.keys(spec.env).length > 0 || !spec.secrets) {
      throw new Error('the ECS driver takes secrets by reference only (Secrets Manager), never values');
    }
    await this.startFrom(spec, 0, []);
  }

  /**
   * Runs the runner's task on the first machine type, from `from` on, that accepts it.
   * machine_type is a list of fallbacks: the next one is tried when the previous has no room, or
   * (in poll) when its task waited the whole capacity window for an instance.
   */
  private async startFrom(spec: RunnerSpec, from: number, noRoom: string[]): Promise<void> {
    const types = spec.revision.settings.machine_type;
    for (let i = from; i < types.length; i++) {
      const machineType = types[i]!;
      const provider = this.o.capacityProviders[machineType];
      const size = sizeOf(machineType, spec.revision.settings);
      if (!provider || !size) {
        noRoom.push(`${machineType}: no capacity provider configured (GANTRY_ECS_CAPACITY_PROVIDERS)`);
        continue;
      }
      const outcome = await this.runTask(spec, machineType, size, provider);
      if (outcome.kind === 'started') {
        this.tasks.set(spec.runnerId, {
          taskArn: outcome.taskArn,
          spec,
          typeIndex: i,
          runAt: this.now(),
          drainGraceS: spec.drainGraceSeconds,
        });
        this.schedulePoll();
        return;
      }
      noRoom.push(`${machineType}: ${outcome.reason}`);
    }
    throw new RunnerSchedulingError(`no capacity for the runner: ${noRoom.join('; ')}`);
  }

  private now(): number {
    return (this.o.now ?? Date.now)();
  }

  private async runTask(
    spec: RunnerSpec,
    machineType: string,
    size: MachineSize,
    provider: string,
  ): Promise<{ kind: 'started'; taskArn: string } | { kind: 'no-room'; reason: string }> {
    let taskDefinition = await this.taskDefinition(spec, machineType, size);
    for (let reregistered = false; ; reregistered = true) {
      try {
        const out = await this.o.client.send(
          new RunTaskCommand({
            cluster: this.o.cluster,
            taskDefinition,
            count: 1,
            capacityProviderStrategy: [{ capacityProvider: provider, weight: 1, base: 0 }],
            networkConfiguration: {
              awsvpcConfiguration: {
                subnets: this.o.subnets,
                securityGroups: this.o.securityGroups,
                assignPublicIp: 'DISABLED',
              },
            },
            // Nothing secret: the token is sealed (its key comes from Secrets Manager), the app's
            // secrets are in the task definition by reference.
            overrides: {
              containerOverrides: [{ name: RUNNER_CONTAINER, environment: this.runnerEnvironment(spec) }],
            },
            startedBy: STARTED_BY,
            // Idempotent per runner: the client's retry after a throttle cannot start a second task.
            clientToken: `${spec.runnerId}-${machineType}`.replace(/[^A-Za-z0-9-]/g, '').slice(0, 64),
            tags: [
              { key: 'gantry:runner', value: spec.runnerId },
              { key: 'gantry:environment', value: spec.environmentId },
              { key: 'gantry:revision', value: String(spec.revision.number) },
            ],
          }),
        );
        const task = out.tasks?.[0];
        if (task?.taskArn) return { kind: 'started', taskArn: task.taskArn };
        const failures = (out.failures ?? []).map((f) => [f.reason, f.detail].filter(Boolean).join(' '));
        if (failures.some((f) => CAPACITY_REASON.test(f)))
          return { kind: 'no-room', reason: failures.join(', ') };
        throw new Error(`RunTask started no task: ${failures.join(', ') || 'no reason given'}`);
      } catch (err) {
        if (!isAwsError(err)) throw err;
        if (err.name === 'ClusterNotFoundException') {
          throw new Error(
            `ECS cluster "${this.o.cluster}" not found: check GANTRY_ECS_CLUSTER (${err.message})`,
          );
        }
        if (err.name === 'InvalidParameterException' && /capacity provider/i.test(err.message)) {
          return { kind: 'no-room', reason: `capacity provider ${provider}: ${err.message}` };
        }
        // A task definition deregistered behind our back: register it again, once.
        if (err.name === 'ClientException' && /task ?definition/i.test(err.message) && !reregistered) {
          this.taskDefinitions.delete(tdKey(spec, machineType));
          taskDefinition = await this.taskDefinition(spec, machineType, size);
          continue;
        }
        throw err;
      }
    }
  }

  /**
   * The task definition of a revision on a machine type with its environment's secret references,
   * registered once and remembered (a secret added or removed makes a new one; a changed value does
   * not: ECS reads it at each task's start).
   */
  private async taskDefinition(spec: RunnerSpec, machineType: string, size: MachineSize): Promise<string> {
    const rev = spec.revision;
    const refs = spec.secrets!;
    const key = tdKey(spec, machineType);
    const known = this.taskDefinitions.get(key);
    if (known) return known;
    const port = this.o.appPort ?? DEFAULT_APP_PORT;
    const outputPort = this.o.appOutputPort ?? DEFAULT_APP_OUTPUT_PORT;
    const logs = (container: string) => ({
      logDriver: 'awslogs' as const,
      options: {
        'awslogs-group': this.o.logGroup,
        'awslogs-region': this.o.region,
        'awslogs-stream-prefix': `${familyOf(rev, machineType)}/${container}`,
        'awslogs-create-group': 'true',
      },
    });
    const grace = this.o.drainGraceSeconds ?? 30;
    const out = await this.o.client.send(
      new RegisterTaskDefinitionCommand({
        family: familyOf(rev, machineType),
        networkMode: 'awsvpc',
        requiresCompatibilities: ['EC2'],
        cpu: String(size.cpu),
        memory: String(size.memoryMiB),
        executionRoleArn: this.o.executionRoleArn,
        ...(this.o.taskRoleArn ? { taskRoleArn: taskRoleOf(this.o.taskRoleArn, spec) } : {}),
        containerDefinitions: [
          {
            name: APP_CONTAINER,
            image: rev.image!,
            essential: true,
            cpu: size.cpu - RUNNER_SIDECAR.cpu,
            memory: size.memoryMiB - RUNNER_SIDECAR.memoryMiB - LOG_ROUTER.memoryMiB,
            ...(size.gpus > 0
              ? { resourceRequirements: [{ type: 'GPU' as const, value: String(size.gpus) }] }
              : {}),
            portMappings: [{ containerPort: port, protocol: 'tcp' }],
            environment: [{ name: 'PORT', value: String(port) }],
            secrets: Object.entries(refs.app).map(([name, valueFrom]) => ({ name, valueFrom })),
            // Through the log router to the runner, which ships it to control (ecs-firelens.ts).
            logConfiguration: appLogsThroughRouter(outputPort),
            dependsOn: [{ containerName: LOG_ROUTER_CONTAINER, condition: 'START' }],
            // The runner stops the app's work first; this only bounds the final shutdown.
            stopTimeout: 30,
          },
          {
            name: RUNNER_CONTAINER,
            image: this.o.runnerImage,
            essential: true,
            cpu: RUNNER_SIDECAR.cpu,
            memory: RUNNER_SIDECAR.memoryMiB,
            dependsOn: [{ containerName: APP_CONTAINER, condition: 'START' }],
            // The intake listens on loopback only; the mapping says the runner holds this port.
            portMappings: [{ containerPort: outputPort, protocol: 'tcp' }],
            environment: [
              { name: RUNNER_ENV.appPort, value: String(port) },
              { name: RUNNER_ENV.appOutput, value: 'http' },
              { name: RUNNER_ENV.appOutputPort, value: String(outputPort) },
              { name: RUNNER_ENV.maxMultiplexing, value: String(rev.settings.max_multiplexing) },
              { name: RUNNER_ENV.startupTimeoutS, value: String(rev.settings.startup_timeout) },
              { name: RUNNER_ENV.drainGraceS, value: String(grace) },
              // The SDK in the runner needs a region, and ECS agents before 2026 set none.
              { name: 'AWS_REGION', value: this.o.region },
            ],
            secrets: [{ name: RUNNER_ENV.runnerKey, valueFrom: refs.runnerKey.valueFrom }],
            logConfiguration: logs(RUNNER_CONTAINER),
            stopTimeout: Math.min(120, grace + 10),
          },
          logRouterContainer(this.o.logRouterImage ?? DEFAULT_LOG_ROUTER_IMAGE, logs(LOG_ROUTER_CONTAINER)),
        ],
        tags: [{ key: 'gantry:revision', value: String(rev.number) }],
      }),
    );
    const arn = out.taskDefinition?.taskDefinitionArn;
    if (!arn) throw new Error('RegisterTaskDefinition answered without a task definition ARN');
    this.taskDefinitions.set(key, arn);
    return arn;
  }

  /** Per runner, so set at RunTask time: who it is, its token, where control is. */
  private runnerEnvironment(spec: RunnerSpec): KeyValuePair[] {
    return [
      { name: RUNNER_ENV.controlUrl, value: spec.controlUrl },
      { name: RUNNER_ENV.runnerId, value: spec.runnerId },
      {
        name: RUNNER_ENV.sealedToken,
        value: sealRunnerToken(spec.secrets!.runnerKey.value, spec.runnerId, spec.token),
      },
      ...pairs(spec.runnerEnv ?? {}),
      // The task definition's value is the driver's default; the environment's setting wins.
      ...(spec.drainGraceSeconds !== undefined
        ? [{ name: RUNNER_ENV.drainGraceS, value: String(spec.drainGraceSeconds) }]
        : []),
    ];
  }

  async stop(runnerId: string): Promise<void> {
    const t = this.tasks.get(runnerId);
    if (!t || t.backstop) return;
    // The runner drains on its own (control told it); StopTask only if it has not ended in time.
    const graceMs = ((t.drainGraceS ?? this.o.drainGraceSeconds ?? 30) + 60) * 1000;
    const setTimer =
      this.o.setTimer ??
      ((fn: () => void, ms: number) => {
        const h = setTimeout(fn, ms);
        h.unref();
        return { cancel: () => clearTimeout(h) };
      });
    t.backstop = setTimer(() => {
      void this.stopTask(runnerId, 'gantry: drain grace over').catch((err) =>
        this.o.log?.('StopTask after drain grace failed', { runner: runnerId, error: String(err) }),
      );
    }, graceMs);
  }

  async kill(runnerId: string): Promise<void> {
    await this.stopTask(runnerId, 'gantry: runner killed');
  }

  private async stopTask(runnerId: string, reason: string): Promise<void> {
    const t = this.tasks.get(runnerId);
    if (!t) return;
    try {
      await this.o.client.send(new StopTaskCommand({ cluster: this.o.cluster, task: t.taskArn, reason }));
    } catch (err) {
      // Already gone: the poll reports its end.
      if (isAwsError(err) && err.name === 'InvalidParameterException' && /not found/i.test(err.message))
        return;
      throw err;
    }
  }

  onExit(listener: (exit: RunnerExit) => void): void {
    this.listeners.push(listener);
  }

  onProgress(listener: (p: RunnerProgress) => void): void {
    this.progressListeners.push(listener);
  }

  /**
   * After a restart: finds the tasks Gantry started (ListTasks by startedBy) and either watches them
   * again, for the runners a record still claims, or ends them. A task still waiting for an instance
   * or pulling never reaches control to learn it should drain, so it is stopped at once; a running
   * one drains at its next pull (control tells it) and is stopped after the drain grace otherwise.
   */
  async reclaim(isClaimed: (runnerId: string) => Promise<boolean>): Promise<void> {
    const arns: string[] = [];
    let nextToken: string | undefined;
    do {
      const out = await this.o.client.send(
        new ListTasksCommand({ cluster: this.o.cluster, startedBy: STARTED_BY, nextToken }),
      );
      arns.push(...(out.taskArns ?? []));
      nextToken = out.nextToken;
    } while (nextToken);
    for (let i = 0; i < arns.length; i += DESCRIBE_BATCH) {
      const out = await this.o.client.send(
        new DescribeTasksCommand({
          cluster: this.o.cluster,
          tasks: arns.slice(i, i + DESCRIBE_BATCH),
          include: ['TAGS'],
        }),
      );
      for (const task of out.tasks ?? []) {
        const runnerId = task.tags?.find((t) => t.key === 'gantry:runner')?.value;
        if (!task.taskArn || !runnerId || task.lastStatus === 'STOPPED') continue;
        this.tasks.set(runnerId, { taskArn: task.taskArn, typeIndex: 0, runAt: this.now() });
        if (await isClaimed(runnerId)) continue;
        if (task.lastStatus === 'RUNNING') await this.stop(runnerId);
        else await this.stopTask(runnerId, 'gantry: no runner record claims this task');
      }
    }
    if (this.tasks.size > 0) this.schedulePoll();
  }

  /** Looks for ended tasks once and reports them; the poll timer calls this. */
  async poll(): Promise<void> {
    const byArn = new Map([...this.tasks].map(([runnerId, t]) => [t.taskArn, runnerId]));
    const arns = [...byArn.keys()];
    for (let i = 0; i < arns.length; i += DESCRIBE_BATCH) {
      const batch = arns.slice(i, i + DESCRIBE_BATCH);
      const out = await this.o.client.send(
        new DescribeTasksCommand({ cluster: this.o.cluster, tasks: batch }),
      );
      for (const task of out.tasks ?? []) {
        const runnerId = task.taskArn ? byArn.get(task.taskArn) : undefined;
        const t = runnerId ? this.tasks.get(runnerId) : undefined;
        if (!runnerId || !t || t.taskArn !== task.taskArn) continue;
        if (task.lastStatus === 'STOPPED') {
          const exit = exitOf(runnerId, task);
          if (exit.schedulingFailure) await this.nextMachineType(runnerId, t, exit.tail.join(' '));
          else this.ended(runnerId, exit);
          continue;
        }
        if (task.lastStatus === 'PROVISIONING' && this.now() - t.runAt > this.capacityWindowMs()) {
          // Waited the whole window for an instance: not the app's fault; try the next machine type.
          await this.stopTask(runnerId, 'gantry: no instance within the capacity window');
          await this.nextMachineType(
            runnerId,
            t,
            `no instance within ${Math.round(this.capacityWindowMs() / 1000)} s`,
          );
          continue;
        }
        const pull = pullProgress(task, t);
        if (pull) {
          t.pullReported = pull.reported;
          for (const l of this.progressListeners) l({ runnerId, state: 'PULLING', detail: pull.detail });
        }
      }
      for (const f of out.failures ?? []) {
        const runnerId = f.arn ? byArn.get(f.arn) : undefined;
        if (runnerId && f.reason === 'MISSING') {
          this.ended(runnerId, {
            runnerId,
            code: null,
            signal: null,
            tail: ['the ECS task no longer exists'],
          });
        }
      }
    }
  }

  private capacityWindowMs(): number {
    return this.o.capacityWindowMs ?? DEFAULT_CAPACITY_WINDOW_MS;
  }

  /** The task on one machine type found no instance: the next type in the list, or the end. */
  private async nextMachineType(runnerId: string, t: Tracked, why: string): Promise<void> {
    const types = t.spec?.revision.settings.machine_type ?? [];
    const here = `${types[t.typeIndex] ?? 'machine type'}: ${why}`;
    if (!t.spec || t.typeIndex + 1 >= types.length) {
      this.ended(runnerId, { runnerId, code: null, signal: null, tail: [here], schedulingFailure: true });
      return;
    }
    try {
      await this.startFrom(t.spec, t.typeIndex + 1, [here]);
    } catch (err) {
      this.ended(runnerId, {
        runnerId,
        code: null,
        signal: null,
        tail: [err instanceof Error ? err.message : String(err)],
        schedulingFailure: isSchedulingFailure(err),
      });
    }
  }

  private ended(runnerId: string, exit: RunnerExit): void {
    const t = this.tasks.get(runnerId);
    t?.backstop?.cancel();
    this.tasks.delete(runnerId);
    for (const l of this.listeners) l(exit);
  }

  private schedulePoll(): void {
    if (this.pollTimer || this.closed) return;
    this.pollTimer = setTimeout(async () => {
      try {
        await this.poll();
      } catch (err) {
        this.o.log?.('DescribeTasks failed; polling again', { error: String(err) });
      }
      this.pollTimer = undefined;
      if (this.tasks.size > 0) this.schedulePoll();
    }, this.o.pollMs ?? 5_000);
    this.pollTimer.unref();
  }

  /**
   * Stops watching. Tasks keep running and are not stopped: stopping would cut in-flight requests;
   * a restarted control marks them ended, and their next pull tells them to drain.
   */
  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.pollTimer);
    for (const t of this.tasks.values()) t.backstop?.cancel();
  }
}

function exitOf(runnerId: string, task: Task): RunnerExit {
  const runner = task.containers?.find((c) => c.name === RUNNER_CONTAINER);
  const app = task.containers?.find((c) => c.name === APP_CONTAINER);
  const tail = [
    task.stopCode ? `${task.stopCode}: ${task.stoppedReason ?? ''}`.trim() : task.stoppedReason,
    runner?.reason ? `runner: ${runner.reason}` : undefined,
    app?.reason ? `app: ${app.reason}` : undefined,
    app?.exitCode !== undefined && app.exitCode !== 0 ? `app exited with code ${app.exitCode}` : undefined,
  ].filter((l): l is string => typeof l === 'string' && l.length > 0);
  // Waited for an instance that never came: not the app's fault, so not a crash.
  const noCapacity =
    task.stopCode === 'TaskFailedToStart' &&
    CAPACITY_STOP.test(task.stoppedReason ?? '') &&
    !runner?.exitCode;
  return {
    runnerId,
    code: runner?.exitCode ?? null,
    signal: null,
    tail,
    ...(noCapacity ? { schedulingFailure: true } : {}),
  };
}

/** The pull's news since the last poll: that it started, then how long it took. */
function pullProgress(task: Task, t: Tracked): { reported: 'started' | 'done'; detail: string } | undefined {
  if (!task.pullStartedAt || t.pullReported === 'done') return undefined;
  if (task.pullStoppedAt) {
    const s = (task.pullStoppedAt.getTime() - task.pullStartedAt.getTime()) / 1000;
    return { reported: 'done', detail: `image pulled in ${s.toFixed(1)} s` };
  }
  if (t.pullReported === 'started') return undefined;
  return { reported: 'started', detail: 'pulling the image' };
}

/** The task role for a runner: the setting, with the app's owner, name and environment put in. */
export function taskRoleOf(template: string, spec: RunnerSpec): string {
  if (!/\{(owner|name|env)\}/.test(template)) return template;
  if (!spec.app) throw new Error(`the task role ${template} names the app, and this runner has none`);
  const { owner, name, environment } = spec.app;
  return template.replaceAll('{owner}', owner).replaceAll('{name}', name).replaceAll('{env}', environment);
}

/** One task definition per revision, machine type and set of secret references. */
const tdKey = (spec: RunnerSpec, machineType: string) => {
  const { app, runnerKey } = spec.secrets!;
  const refs = JSON.stringify([Object.entries(app).sort(), runnerKey.valueFrom]);
  return `${spec.revision.id}:${machineType}:${createHash('sha256').update(refs).digest('hex')}`;
};

/** Task definition family: one per environment, revision and machine type. */
export function familyOf(rev: Revision, machineType: string): string {
  const env = rev.environment_id.replace(/[^A-Za-z0-9]/g, '').slice(0, 12);
  return `gantry-${env}-r${rev.number}-${machineType.toLowerCase().replace(/[^a-z0-9]/g, '')}`;
}

function pairs(env: Record<string, string>): KeyValuePair[] {
  return Object.entries(env).map(([name, value]) => ({ name, value }));
}
