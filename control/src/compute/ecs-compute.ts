/**
 * The ECS compute driver (GANTRY_COMPUTE=ecs): each runner is one ECS task started with RunTask,
 * holding two containers: the app (the revision's image, by digest, with its GPUs) and the runner
 * as a sidecar that reaches the app on localhost (awsvpc networking) and control over HTTP.
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
import {
  DescribeTasksCommand,
  type ECSClient,
  type KeyValuePair,
  RegisterTaskDefinitionCommand,
  RunTaskCommand,
  StopTaskCommand,
  type Task,
} from '@aws-sdk/client-ecs';
import { RUNNER_ENV } from '../../../contract/src/runner-protocol.ts';
import type { Revision } from '../domain.ts';
import { isAwsError } from './aws-errors.ts';
import {
  type ComputeDriver,
  type RunnerExit,
  RunnerSchedulingError,
  type RunnerSpec,
} from './compute-driver.ts';
import { MACHINE_TYPES, type MachineSize, RUNNER_SIDECAR } from './machine-types.ts';

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
  taskRoleArn?: string;
  /** Port the app listens on inside the task. */
  appPort?: number;
  drainGraceSeconds?: number;
  /** How often task ends are looked for. */
  pollMs?: number;
  /** Time source for the stop() backstop; tests pass their own timers. */
  setTimer?: (fn: () => void, ms: number) => { cancel(): void };
  log?: (msg: string, fields?: Record<string, unknown>) => void;
}

export const APP_CONTAINER = 'app';
export const RUNNER_CONTAINER = 'runner';
const DEFAULT_APP_PORT = 8000;
/** DescribeTasks takes at most 100 tasks a call. */
const DESCRIBE_BATCH = 100;

/** RunTask `failures[].reason` values that mean "no room for this task now". */
const CAPACITY_REASON = /^RESOURCE:|No Container Instances|capacity/i;
/** How a task that waited for capacity and got none ends (stoppedReason). */
const CAPACITY_STOP = /capacity|RESOURCE:|insufficient/i;

interface Tracked {
  taskArn: string;
  backstop?: { cancel(): void };
}

export class EcsCompute implements ComputeDriver {
  private readonly tasks = new Map<string, Tracked>();
  private readonly taskDefinitions = new Map<string, string>();
  private readonly listeners: ((e: RunnerExit) => void)[] = [];
  private pollTimer: NodeJS.Timeout | undefined;
  private closed = false;

  constructor(private readonly o: EcsComputeOptions) {}

  async start(spec: RunnerSpec): Promise<void> {
    const rev = spec.revision;
    if (!rev.image) {
      throw new Error(`revision ${rev.number} has no image; the ECS driver runs container images only`);
    }
    const noRoom: string[] = [];
    // machine_type is a list of fallbacks: the next one is tried only when the previous has no room.
    for (const machineType of rev.settings.machine_type) {
      const provider = this.o.capacityProviders[machineType];
      const size = MACHINE_TYPES[machineType];
      if (!provider || !size) {
        noRoom.push(`${machineType}: no capacity provider configured (GANTRY_ECS_CAPACITY_PROVIDERS)`);
        continue;
      }
      const outcome = await this.runTask(spec, machineType, size, provider);
      if (outcome.kind === 'started') {
        this.tasks.set(spec.runnerId, { taskArn: outcome.taskArn });
        this.schedulePoll();
        return;
      }
      noRoom.push(`${machineType}: ${outcome.reason}`);
    }
    throw new RunnerSchedulingError(`no capacity for the runner: ${noRoom.join('; ')}`);
  }

  private async runTask(
    spec: RunnerSpec,
    machineType: string,
    size: MachineSize,
    provider: string,
  ): Promise<{ kind: 'started'; taskArn: string } | { kind: 'no-room'; reason: string }> {
    let taskDefinition = await this.taskDefinition(spec.revision, machineType, size);
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
            overrides: {
              containerOverrides: [
                { name: RUNNER_CONTAINER, environment: this.runnerEnvironment(spec) },
                { name: APP_CONTAINER, environment: pairs(spec.env) },
              ],
            },
            startedBy: 'gantry',
            // Idempotent per runner: the client's retry after a throttle cannot start a second task.
            clientToken: `${spec.runnerId}-${machineType}`.slice(0, 64),
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
          this.taskDefinitions.delete(tdKey(spec.revision, machineType));
          taskDefinition = await this.taskDefinition(spec.revision, machineType, size);
          continue;
        }
        throw err;
      }
    }
  }

  /** The task definition of a revision on a machine type, registered once and remembered. */
  private async taskDefinition(rev: Revision, machineType: string, size: MachineSize): Promise<string> {
    const key = tdKey(rev, machineType);
    const known = this.taskDefinitions.get(key);
    if (known) return known;
    const port = this.o.appPort ?? DEFAULT_APP_PORT;
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
        ...(this.o.taskRoleArn ? { taskRoleArn: this.o.taskRoleArn } : {}),
        containerDefinitions: [
          {
            name: APP_CONTAINER,
            image: rev.image!,
            essential: true,
            cpu: size.cpu - RUNNER_SIDECAR.cpu,
            memory: size.memoryMiB - RUNNER_SIDECAR.memoryMiB,
            ...(size.gpus > 0
              ? { resourceRequirements: [{ type: 'GPU' as const, value: String(size.gpus) }] }
              : {}),
            portMappings: [{ containerPort: port, protocol: 'tcp' }],
            environment: [{ name: 'PORT', value: String(port) }],
            logConfiguration: logs(APP_CONTAINER),
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
            environment: [
              { name: RUNNER_ENV.appPort, value: String(port) },
              { name: RUNNER_ENV.maxMultiplexing, value: String(rev.settings.max_multiplexing) },
              { name: RUNNER_ENV.startupTimeoutS, value: String(rev.settings.startup_timeout) },
              { name: RUNNER_ENV.drainGraceS, value: String(grace) },
            ],
            logConfiguration: logs(RUNNER_CONTAINER),
            stopTimeout: Math.min(120, grace + 10),
          },
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
      { name: RUNNER_ENV.token, value: spec.token },
      ...pairs(spec.runnerEnv ?? {}),
    ];
  }

  async stop(runnerId: string): Promise<void> {
    const t = this.tasks.get(runnerId);
    if (!t || t.backstop) return;
    // The runner drains on its own (control told it); StopTask only if it has not ended in time.
    const graceMs = ((this.o.drainGraceSeconds ?? 30) + 60) * 1000;
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
        if (task.lastStatus !== 'STOPPED' || !task.taskArn) continue;
        const runnerId = byArn.get(task.taskArn);
        if (runnerId) this.ended(runnerId, exitOf(runnerId, task));
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

const tdKey = (rev: Revision, machineType: string) => `${rev.id}:${machineType}`;

/** Task definition family: one per environment, revision and machine type. */
export function familyOf(rev: Revision, machineType: string): string {
  const env = rev.environment_id.replace(/[^A-Za-z0-9]/g, '').slice(0, 12);
  return `gantry-${env}-r${rev.number}-${machineType.toLowerCase().replace(/[^a-z0-9]/g, '')}`;
}

function pairs(env: Record<string, string>): KeyValuePair[] {
  return Object.entries(env).map(([name, value]) => ({ name, value }));
}
