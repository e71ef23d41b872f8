/**
 * An ECS stand-in for tests, like fauxqs for SQS: an HTTP server on loopback, at
 * AWS_ENDPOINT_URL_ECS, answering ECS's JSON 1.1 protocol for the calls Gantry's ECS driver makes,
 * and running every task's containers for real in a test container engine (podman).
 *
 * What it models, because the driver's behaviour depends on it:
 * - capacity providers backed by instance pools: an instance boots (a delay), holds tasks up to its
 *   GPUs (or a task count for GPU-less tasks), and managed scaling launches instances from zero when
 *   a task waits and terminates one after it has been idle for the scale-in delay;
 * - a task's life: PROVISIONING (waiting for an instance) → PENDING (image pull, secrets) → RUNNING
 *   → STOPPED, with `stopCode` and `stoppedReason` as ECS sets them, `pullStartedAt`/`pullStoppedAt`
 *   around a real pull, and TaskFailedToStart when no instance came within the provisioning timeout;
 * - `secrets[].valueFrom` resolved at start against a small Secrets Manager/SSM table, as the ECS
 *   agent does with the execution role (a value never travels in any ECS call). The same server
 *   answers Secrets Manager's JSON protocol (CreateSecret, PutSecretValue, DescribeSecret,
 *   DeleteSecret) into that table, so it is also AWS_ENDPOINT_URL_SECRETS_MANAGER;
 * - FireLens: a container logging with `awsfirelens` has its output posted by the task's log router
 *   (Fluent Bit's `http` output), emulated in firelens-standin.ts; the router's image is never run;
 * - awsvpc: every task has a localhost of its own. Here all tasks share the host's network, so each
 *   task gets a free port in place of each container port it declares, substituted in every
 *   environment value equal to that port (the app's PORT and whatever tells a sidecar where it is).
 *
 * Every ECS call is logged (`calls`) so tests can assert on what a driver sent; Secrets Manager
 * calls, which carry values by design, go to `secretCalls`.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  checkFirelens,
  type FirelensFollower,
  followToFirelens,
  isLogRouter,
  logsThroughFirelens,
} from './firelens-standin.ts';
import { freePort } from './free-port.ts';
import type { TestEngine } from './podman.ts';

export interface InstancePool {
  /** GPUs per instance; a task asking for more never fits. */
  gpusPerInstance: number;
  /** Tasks per instance when they ask for no GPU. */
  tasksPerInstance?: number;
  /** Instances the Auto Scaling group may grow to (0: the pool cannot grow). */
  maxInstances: number;
  /** From launch to the ECS agent registering the instance. */
  bootMs: number;
  /** Managed scaling terminates an instance idle this long. */
  scaleInAfterMs?: number;
}

export interface EcsStandinOptions {
  engine: TestEngine;
  clusters: string[];
  /** Capacity provider name → its instance pool. */
  capacityProviders: Record<string, InstancePool>;
  /** How long a task waits in PROVISIONING for an instance before it stops with TaskFailedToStart. */
  provisioningTimeoutMs?: number;
  /** Secrets Manager ARNs and SSM parameter ARNs/names → values, for `secrets[].valueFrom`. */
  secrets?: Record<string, string>;
  region?: string;
}

export interface EcsCall {
  op: string;
  /** The raw request body, exactly as sent. */
  body: string;
  at: number;
}

interface ContainerDef {
  name: string;
  image: string;
  essential?: boolean;
  command?: string[];
  entryPoint?: string[];
  environment?: { name: string; value: string }[];
  secrets?: { name: string; valueFrom: string }[];
  portMappings?: { containerPort: number }[];
  resourceRequirements?: { type: string; value: string }[];
  dependsOn?: { containerName: string; condition: string }[];
  stopTimeout?: number;
  logConfiguration?: { logDriver?: string; options?: Record<string, string> };
  firelensConfiguration?: { type: string };
}

interface TaskDefinition {
  taskDefinitionArn: string;
  family: string;
  revision: number;
  status: 'ACTIVE' | 'INACTIVE';
  containerDefinitions: ContainerDef[];
  [k: string]: unknown;
}

interface Instance {
  id: string;
  provider: string;
  ready: boolean;
  tasks: Set<StandinTask>;
  idleTimer?: NodeJS.Timeout;
}

interface ContainerState {
  name: string;
  /** The engine's container name. */
  engineName: string;
  lastStatus: string;
  exitCode?: number;
  reason?: string;
  essential: boolean;
}

export interface StandinTask {
  taskArn: string;
  clusterArn: string;
  taskDefinitionArn: string;
  capacityProviderName: string;
  lastStatus: 'PROVISIONING' | 'PENDING' | 'RUNNING' | 'DEPROVISIONING' | 'STOPPED';
  desiredStatus: 'RUNNING' | 'STOPPED';
  startedBy?: string;
  tags: { key: string; value: string }[];
  createdAt: number;
  pullStartedAt?: number;
  pullStoppedAt?: number;
  startedAt?: number;
  stoppingAt?: number;
  stoppedAt?: number;
  stopCode?: string;
  stoppedReason?: string;
  containers: ContainerState[];
  instance?: Instance;
  gpus: number;
  overrides: { containerOverrides?: { name: string; environment?: { name: string; value: string }[] }[] };
  provisioningTimer?: NodeJS.Timeout;
  waiters: ChildProcess[];
  /** FireLens: the containers whose output the emulated log router posts (firelens-standin.ts). */
  firelens?: FirelensFollower[];
}

export interface EcsStandin {
  /** `http://127.0.0.1:<port>`: AWS_ENDPOINT_URL_ECS, and AWS_ENDPOINT_URL_SECRETS_MANAGER. */
  endpoint: string;
  region: string;
  calls: EcsCall[];
  secretCalls: EcsCall[];
  /** Secrets Manager's secrets by name, as the stand-in holds them. */
  secretsByName(): Record<string, { arn: string; value: string }>;
  tasks: StandinTask[];
  /** Instances alive (booting or ready) per capacity provider. */
  instances(provider: string): { booting: number; ready: number };
  /** Instances ever launched per provider: what an AWS bill counts. */
  launched: Record<string, number>;
  /** Changes how far a pool may grow (0: it cannot). */
  setMaxInstances(provider: string, max: number): void;
  /** Changes how long tasks started from now on may wait in PROVISIONING. */
  setProvisioningTimeout(ms: number): void;
  /** A task's container output so far. */
  logs(taskArn: string, container: string): Promise<string>;
  /** SIGKILLs a task's containers, as an instance failure would. */
  killTask(taskArn: string): Promise<void>;
  /** Resolves when some task matches (bounded; rejects with what was seen). */
  waitForTask(pred: (t: StandinTask) => boolean, timeoutMs?: number): Promise<StandinTask>;
  close(): Promise<void>;
}

const ACCOUNT = '000000000000';
const TARGET_PREFIX = 'AmazonEC2ContainerServiceV20141113.';
const SECRETS_PREFIX = 'secretsmanager.';

class EcsError extends Error {
  constructor(
    readonly type: string,
    message: string,
  ) {
    super(message);
  }
}

export async function startEcsStandin(o: EcsStandinOptions): Promise<EcsStandin> {
  const region = o.region ?? 'us-east-1';
  const calls: EcsCall[] = [];
  const tasks: StandinTask[] = [];
  const taskDefs = new Map<string, TaskDefinition>();
  const revisions = new Map<string, number>();
  const instances: Instance[] = [];
  const launched: Record<string, number> = {};
  const pools = new Map(Object.entries(o.capacityProviders).map(([k, v]) => [k, { ...v }]));
  const clusterArn = (name: string) => `arn:aws:ecs:${region}:${ACCOUNT}:cluster/${name}`;
  const secrets: Record<string, string> = { ...o.secrets };
  /** Secrets Manager: name → ARN (with the random suffix AWS adds). */
  const secretArns = new Map<string, string>();
  const secretCalls: EcsCall[] = [];
  let closed = false;
  const now = () => Date.now() / 1000;
  /** Read at each RunTask, so a test can change it between steps (setProvisioningTimeout). */
  const provisioning = { timeoutMs: o.provisioningTimeoutMs ?? 30_000 };

  const clusterOf = (raw: unknown): string => {
    const name = String(raw ?? 'default').replace(/^arn:.*:cluster\//, '');
    if (!o.clusters.includes(name)) throw new EcsError('ClusterNotFoundException', 'Cluster not found.');
    return clusterArn(name);
  };

  const findTaskDef = (ref: string): TaskDefinition => {
    const name = ref.replace(/^arn:.*:task-definition\//, '');
    const [family, rev] = name.split(':');
    const revision = rev ? Number(rev) : revisions.get(family!);
    const td = taskDefs.get(`${family}:${revision}`);
    if (td?.status !== 'ACTIVE') throw new EcsError('ClientException', 'Unable to describe task definition.');
    return td;
  };

  const room = (inst: Instance, task: StandinTask): boolean => {
    const pool = pools.get(inst.provider)!;
    if (!inst.ready) return false;
    if (task.gpus > 0) {
      const used = [...inst.tasks].reduce((n, t) => n + t.gpus, 0);
      return used + task.gpus <= pool.gpusPerInstance;
    }
    return inst.tasks.size < (pool.tasksPerInstance ?? 4);
  };

  /** Places waiting tasks on ready instances; launches instances for those that still wait. */
  const schedule = () => {
    if (closed) return;
    for (const [provider, pool] of pools) {
      const waiting = tasks.filter(
        (t) => t.capacityProviderName === provider && t.lastStatus === 'PROVISIONING' && !t.instance,
      );
      for (const task of waiting) {
        const inst = instances.find((i) => i.provider === provider && room(i, task));
        if (inst) {
          place(task, inst);
        }
      }
      // Managed scaling: enough instances for what still waits, as if each waiting task needed one.
      const stillWaiting = waiting.filter((t) => !t.instance && t.gpus <= pool.gpusPerInstance);
      const booting = instances.filter((i) => i.provider === provider && !i.ready).length;
      const alive = instances.filter((i) => i.provider === provider).length;
      let want = Math.min(stillWaiting.length - booting, pool.maxInstances - alive);
      while (want-- > 0) launch(provider, pool);
    }
  };

  const launch = (provider: string, pool: InstancePool) => {
    const inst: Instance = { id: `i-${randomUUID().slice(0, 17)}`, provider, ready: false, tasks: new Set() };
    instances.push(inst);
    launched[provider] = (launched[provider] ?? 0) + 1;
    setTimeout(() => {
      inst.ready = true;
      idleCheck(inst);
      schedule();
    }, pool.bootMs).unref();
  };

  const idleCheck = (inst: Instance) => {
    clearTimeout(inst.idleTimer);
    if (inst.tasks.size > 0) return;
    const after = pools.get(inst.provider)?.scaleInAfterMs ?? 60_000;
    inst.idleTimer = setTimeout(() => {
      if (inst.tasks.size > 0) return;
      instances.splice(instances.indexOf(inst), 1);
    }, after);
    inst.idleTimer.unref();
  };

  const place = (task: StandinTask, inst: Instance) => {
    clearTimeout(task.provisioningTimer);
    task.instance = inst;
    inst.tasks.add(task);
    clearTimeout(inst.idleTimer);
    task.lastStatus = 'PENDING';
    void startContainers(task).catch((err: Error) =>
      stopped(task, 'TaskFailedToStart', `CannotStartContainerError: ${err.message}`),
    );
  };

  const engineName = (task: StandinTask, container: string) =>
    `ecs-${task.taskArn.split('/').pop()}-${container}`;

  const resolveSecret = (valueFrom: string): string => {
    if (valueFrom in secrets) return secrets[valueFrom]!;
    // Secrets Manager's form for one key of a JSON secret: <arn>:<json-key>:<version-stage>:<version-id>
    const m = /^(arn:aws:secretsmanager:[^:]+:[^:]+:secret:[^:]+):([^:]*):([^:]*):([^:]*)$/.exec(valueFrom);
    if (m && m[1]! in secrets) {
      const whole = secrets[m[1]!]!;
      if (!m[2]) return whole;
      const value = (JSON.parse(whole) as Record<string, unknown>)[m[2]];
      if (typeof value === 'string') return value;
    }
    throw new Error(`ResourceInitializationError: unable to retrieve secret from ${valueFrom}`);
  };

  const startContainers = async (task: StandinTask) => {
    const td = findTaskDef(task.taskDefinitionArn);
    // A port of its own for each container port: this task's "localhost".
    const ports = new Map<string, string>();
    for (const c of td.containerDefinitions)
      for (const p of c.portMappings ?? []) ports.set(String(p.containerPort), String(await freePort()));

    task.pullStartedAt = now();
    for (const image of new Set(td.containerDefinitions.filter((c) => !isLogRouter(c)).map((c) => c.image))) {
      const present = await o.engine.podman(['image', 'exists', image]).then(
        () => true,
        () => false,
      );
      if (!present) {
        try {
          await o.engine.podman(['pull', '--quiet', image]);
        } catch (err) {
          task.pullStoppedAt = now();
          return stopped(task, 'TaskFailedToStart', `CannotPullContainerError: ${(err as Error).message}`);
        }
      }
    }
    task.pullStoppedAt = now();
    if ((task.desiredStatus as string) === 'STOPPED')
      return stopped(task, task.stopCode ?? 'UserInitiated', task.stoppedReason);

    const envOf = (c: ContainerDef): string[] => {
      const override = task.overrides.containerOverrides?.find((x) => x.name === c.name);
      const env = new Map<string, string>();
      for (const e of [...(c.environment ?? []), ...(override?.environment ?? [])]) env.set(e.name, e.value);
      for (const s of c.secrets ?? []) env.set(s.name, resolveSecret(s.valueFrom));
      return [...env].map(([k, v]) => `${k}=${ports.get(v) ?? v}`);
    };
    let envs: Map<string, string[]>;
    try {
      envs = new Map(td.containerDefinitions.map((c) => [c.name, envOf(c)]));
    } catch (err) {
      return stopped(task, 'TaskFailedToStart', (err as Error).message);
    }

    // Containers another one depends on start first (the ECS agent orders by dependsOn).
    const order = [...td.containerDefinitions].sort(
      (a, b) => (a.dependsOn?.length ?? 0) - (b.dependsOn?.length ?? 0),
    );
    // StopTask may come while containers start (the status is read again after every await).
    const stopAsked = () => (task.desiredStatus as string) === 'STOPPED';
    for (const c of order) {
      if (stopAsked()) break;
      if (isLogRouter(c)) {
        routerStarted(task, c);
        continue;
      }
      const name = engineName(task, c.name);
      const args = ['run', '-d', '--name', name, '--network', 'host', '--label', `ecs-task=${task.taskArn}`];
      for (const e of envs.get(c.name)!) args.push('-e', e);
      if (c.entryPoint) args.push('--entrypoint', JSON.stringify(c.entryPoint));
      args.push(c.image, ...(c.command ?? []));
      await o.engine.podman(args);
      const state = task.containers.find((x) => x.name === c.name)!;
      state.lastStatus = 'RUNNING';
      watch(task, state);
      if (logsThroughFirelens(c)) followFirelens(task, td, c, ports);
    }
    if (stopAsked()) return stopContainers(task);
    task.lastStatus = 'RUNNING';
    task.startedAt = now();
  };

  /** Waits for a container's end; an essential one ending stops the task. */
  const watch = (task: StandinTask, state: ContainerState) => {
    const child = spawn('podman', ['wait', state.engineName], {
      env: { ...process.env, ...o.engine.env },
      stdio: ['ignore', 'pipe', 'ignore'],
    });
    task.waiters.push(child);
    let out = '';
    child.stdout?.on('data', (c: Buffer) => {
      out += c.toString();
    });
    child.on('exit', () => {
      if (closed) return;
      const code = Number.parseInt(out.trim(), 10);
      state.lastStatus = 'STOPPED';
      if (Number.isFinite(code)) state.exitCode = code;
      if (state.essential && task.lastStatus !== 'STOPPED') {
        if (!task.stopCode) {
          task.stopCode = 'EssentialContainerExited';
          task.stoppedReason = `Essential container in task exited`;
        }
        void stopContainers(task);
      }
    });
  };

  const stopContainers = async (task: StandinTask) => {
    if (task.lastStatus === 'DEPROVISIONING' || task.lastStatus === 'STOPPED') return;
    task.lastStatus = 'DEPROVISIONING';
    task.stoppingAt ??= now();
    const td = findTaskDefAny(task.taskDefinitionArn);
    await Promise.all(
      task.containers
        .filter((c) => c.lastStatus === 'RUNNING')
        .map((c) => {
          const timeout = td?.containerDefinitions.find((d) => d.name === c.name)?.stopTimeout ?? 30;
          return o.engine.podman(['stop', '--time', String(timeout), c.engineName]).catch(() => {});
        }),
    );
    // The wait processes report exit codes; give them their moment before the task is STOPPED.
    await Promise.all(
      task.waiters.map((w) => (w.exitCode === null ? new Promise((r) => w.once('exit', r)) : undefined)),
    );
    // The log router stops after the other containers, once it has posted what it holds.
    await Promise.all((task.firelens ?? []).map((f) => f.stop()));
    stopped(task, task.stopCode ?? 'UserInitiated', task.stoppedReason);
  };

  // --- FireLens (firelens-standin.ts): the log router is emulated, never run ------------------
  const routerStarted = (task: StandinTask, c: ContainerDef) => {
    const state = task.containers.find((x) => x.name === c.name)!;
    state.lastStatus = 'RUNNING';
  };
  const followFirelens = (
    task: StandinTask,
    td: TaskDefinition,
    c: ContainerDef,
    ports: Map<string, string>,
  ) => {
    task.firelens ??= [];
    task.firelens.push(
      followToFirelens({
        engine: o.engine,
        engineName: engineName(task, c.name),
        container: c,
        ports,
        meta: {
          clusterArn: task.clusterArn,
          taskArn: task.taskArn,
          taskDefinition: `${td.family}:${td.revision}`,
        },
      }),
    );
  };

  const findTaskDefAny = (arn: string) => {
    const name = arn.replace(/^arn:.*:task-definition\//, '');
    return taskDefs.get(name);
  };

  const stopped = (task: StandinTask, stopCode: string, reason?: string) => {
    if (task.lastStatus === 'STOPPED') return;
    clearTimeout(task.provisioningTimer);
    task.lastStatus = 'STOPPED';
    task.desiredStatus = 'STOPPED';
    task.stopCode ??= stopCode;
    task.stoppedReason ??= reason;
    task.stoppingAt ??= now();
    task.stoppedAt = now();
    for (const c of task.containers) if (c.lastStatus !== 'STOPPED') c.lastStatus = 'STOPPED';
    if (task.instance) {
      task.instance.tasks.delete(task);
      idleCheck(task.instance);
    }
    schedule();
  };

  // biome-ignore lint/suspicious/noExplicitAny: request bodies are ECS's JSON, read field by field as ECS documents them
  const ops: Record<string, (b: Record<string, any>) => unknown> = {
    RegisterTaskDefinition(b) {
      const family = String(b.family);
      const firelensProblem = checkFirelens(b.containerDefinitions ?? []);
      if (firelensProblem) throw new EcsError('ClientException', firelensProblem);
      const revision = (revisions.get(family) ?? 0) + 1;
      revisions.set(family, revision);
      const td: TaskDefinition = {
        ...b,
        family,
        revision,
        status: 'ACTIVE',
        containerDefinitions: b.containerDefinitions ?? [],
        taskDefinitionArn: `arn:aws:ecs:${region}:${ACCOUNT}:task-definition/${family}:${revision}`,
      };
      delete td.tags;
      taskDefs.set(`${family}:${revision}`, td);
      return { taskDefinition: td, tags: b.tags ?? [] };
    },
    DescribeTaskDefinition(b) {
      return { taskDefinition: findTaskDef(String(b.taskDefinition)) };
    },
    DeregisterTaskDefinition(b) {
      const td = findTaskDef(String(b.taskDefinition));
      td.status = 'INACTIVE';
      return { taskDefinition: td };
    },
    RunTask(b) {
      const cluster = clusterOf(b.cluster);
      const td = findTaskDef(String(b.taskDefinition));
      const provider = b.capacityProviderStrategy?.[0]?.capacityProvider as string | undefined;
      if (!provider || !pools.has(provider))
        throw new EcsError(
          'InvalidParameterException',
          `The specified capacity provider strategy cannot contain a capacity provider that is not associated with the cluster (${provider}).`,
        );
      const gpus = td.containerDefinitions.reduce(
        (n, c) => n + Number(c.resourceRequirements?.find((r) => r.type === 'GPU')?.value ?? 0),
        0,
      );
      const id = randomUUID().replace(/-/g, '');
      const name = cluster.split('/').pop();
      const task: StandinTask = {
        taskArn: `arn:aws:ecs:${region}:${ACCOUNT}:task/${name}/${id}`,
        clusterArn: cluster,
        taskDefinitionArn: td.taskDefinitionArn,
        capacityProviderName: provider,
        lastStatus: 'PROVISIONING',
        desiredStatus: 'RUNNING',
        ...(b.startedBy ? { startedBy: String(b.startedBy) } : {}),
        tags: b.tags ?? [],
        createdAt: now(),
        containers: td.containerDefinitions.map((c) => ({
          name: c.name,
          engineName: '',
          lastStatus: 'PENDING',
          essential: c.essential !== false,
        })),
        gpus,
        overrides: b.overrides ?? {},
        waiters: [],
      };
      for (const c of task.containers) c.engineName = engineName(task, c.name);
      tasks.push(task);
      task.provisioningTimer = setTimeout(() => {
        if (task.lastStatus === 'PROVISIONING' && !task.instance)
          stopped(
            task,
            'TaskFailedToStart',
            `Capacity provider ${provider}: no container instance could be provisioned for the task (insufficient capacity)`,
          );
      }, provisioning.timeoutMs);
      task.provisioningTimer.unref();
      schedule();
      return { tasks: [describe(task, true)], failures: [] };
    },
    DescribeTasks(b) {
      clusterOf(b.cluster);
      const want: string[] = b.tasks ?? [];
      const found = want.map((arn) => tasks.find((t) => t.taskArn === arn || t.taskArn.endsWith(`/${arn}`)));
      return {
        tasks: found
          .filter((t): t is StandinTask => !!t)
          .map((t) => describe(t, b.include?.includes('TAGS'))),
        failures: want.filter((_, i) => !found[i]).map((arn) => ({ arn, reason: 'MISSING' })),
      };
    },
    ListTasks(b) {
      const cluster = clusterOf(b.cluster);
      const desired = b.desiredStatus ?? 'RUNNING';
      return {
        taskArns: tasks
          .filter(
            (t) =>
              t.clusterArn === cluster &&
              t.desiredStatus === desired &&
              (!b.startedBy || t.startedBy === b.startedBy) &&
              (!b.family || t.taskDefinitionArn.includes(`/${b.family}:`)),
          )
          .map((t) => t.taskArn),
      };
    },
    StopTask(b) {
      clusterOf(b.cluster);
      const task = tasks.find((t) => t.taskArn === b.task || t.taskArn.endsWith(`/${b.task}`));
      if (!task) throw new EcsError('InvalidParameterException', 'The referenced task was not found.');
      if (task.desiredStatus !== 'STOPPED') {
        task.desiredStatus = 'STOPPED';
        task.stopCode = 'UserInitiated';
        task.stoppedReason = b.reason ? String(b.reason) : 'Task stopped by user';
        task.stoppingAt = now();
        if (task.lastStatus === 'PROVISIONING') stopped(task, 'UserInitiated');
        else if (task.lastStatus === 'RUNNING') void stopContainers(task);
        // PENDING: startContainers sees the desired status and stops what it started.
      }
      return { task: describe(task, false) };
    },
    UpdateTaskProtection(b) {
      // Scale-in protection is for service tasks; a standalone task is refused, as ECS does.
      return {
        protectedTasks: [],
        failures: (b.tasks ?? []).map((arn: string) => ({ arn, reason: 'TASK_NOT_VALID' })),
      };
    },
    DescribeClusters(b) {
      const names: string[] = b.clusters ?? ['default'];
      return {
        clusters: names
          .filter((n) => o.clusters.includes(n))
          .map((n) => ({ clusterArn: clusterArn(n), clusterName: n, status: 'ACTIVE' })),
        failures: names
          .filter((n) => !o.clusters.includes(n))
          .map((n) => ({ arn: clusterArn(n), reason: 'MISSING' })),
      };
    },
  };

  const secretArnOf = (id: unknown): string => {
    const ref = String(id);
    const arn = secretArns.get(ref) ?? ([...secretArns.values()].includes(ref) ? ref : undefined);
    if (!arn)
      throw new EcsError('ResourceNotFoundException', "Secrets Manager can't find the specified secret.");
    return arn;
  };
  // biome-ignore lint/suspicious/noExplicitAny: Secrets Manager's JSON, read field by field as documented
  const secretOps: Record<string, (b: Record<string, any>) => unknown> = {
    CreateSecret(b) {
      const name = String(b.Name);
      if (secretArns.has(name))
        throw new EcsError(
          'ResourceExistsException',
          `The operation failed because the secret ${name} already exists.`,
        );
      const arn = `arn:aws:secretsmanager:${region}:${ACCOUNT}:secret:${name}-${randomUUID().slice(0, 6)}`;
      secretArns.set(name, arn);
      secrets[arn] = String(b.SecretString);
      return { ARN: arn, Name: name, VersionId: randomUUID() };
    },
    PutSecretValue(b) {
      const arn = secretArnOf(b.SecretId);
      secrets[arn] = String(b.SecretString);
      return { ARN: arn, Name: arn.split(':secret:')[1]!.slice(0, -7), VersionId: randomUUID() };
    },
    DescribeSecret(b) {
      const arn = secretArnOf(b.SecretId);
      return { ARN: arn, Name: arn.split(':secret:')[1]!.slice(0, -7) };
    },
    DeleteSecret(b) {
      const arn = secretArnOf(b.SecretId);
      delete secrets[arn];
      for (const [name, a] of secretArns) if (a === arn) secretArns.delete(name);
      return { ARN: arn, DeletionDate: now() };
    },
  };

  const describe = (t: StandinTask, withTags: boolean) => ({
    taskArn: t.taskArn,
    clusterArn: t.clusterArn,
    taskDefinitionArn: t.taskDefinitionArn,
    capacityProviderName: t.capacityProviderName,
    lastStatus: t.lastStatus,
    desiredStatus: t.desiredStatus,
    launchType: 'EC2',
    ...(t.startedBy ? { startedBy: t.startedBy } : {}),
    ...(t.instance
      ? { containerInstanceArn: `arn:aws:ecs:${region}:${ACCOUNT}:container-instance/${t.instance.id}` }
      : {}),
    createdAt: t.createdAt,
    ...(t.pullStartedAt ? { pullStartedAt: t.pullStartedAt } : {}),
    ...(t.pullStoppedAt ? { pullStoppedAt: t.pullStoppedAt } : {}),
    ...(t.startedAt ? { startedAt: t.startedAt } : {}),
    ...(t.stoppingAt ? { stoppingAt: t.stoppingAt } : {}),
    ...(t.stoppedAt ? { stoppedAt: t.stoppedAt } : {}),
    ...(t.stopCode ? { stopCode: t.stopCode } : {}),
    ...(t.stoppedReason ? { stoppedReason: t.stoppedReason } : {}),
    overrides: t.overrides,
    containers: t.containers.map((c) => ({
      name: c.name,
      taskArn: t.taskArn,
      lastStatus: c.lastStatus,
      ...(c.exitCode !== undefined ? { exitCode: c.exitCode } : {}),
      ...(c.reason ? { reason: c.reason } : {}),
    })),
    ...(withTags ? { tags: t.tags } : {}),
  });

  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const body = Buffer.concat(chunks).toString();
    const target = String(req.headers['x-amz-target'] ?? '');
    const secretsCall = target.startsWith(SECRETS_PREFIX);
    const op = target.startsWith(TARGET_PREFIX)
      ? target.slice(TARGET_PREFIX.length)
      : secretsCall
        ? target.slice(SECRETS_PREFIX.length)
        : target;
    (secretsCall ? secretCalls : calls).push({ op, body, at: Date.now() });
    res.setHeader('content-type', 'application/x-amz-json-1.1');
    res.setHeader('x-amzn-requestid', randomUUID());
    try {
      if (secretsCall && !/^AWS4-HMAC-SHA256 Credential=/.test(String(req.headers.authorization ?? '')))
        throw new EcsError('MissingAuthenticationTokenException', 'Request is missing a SigV4 signature.');
      const fn = secretsCall ? secretOps[op] : ops[op];
      if (!fn) throw new EcsError('UnknownOperationException', `The stand-in does not answer ${target}`);
      const out = fn(body ? JSON.parse(body) : {});
      res.end(JSON.stringify(out));
    } catch (err) {
      const e = err instanceof EcsError ? err : new EcsError('ServerException', String(err));
      res.statusCode = e.type === 'ServerException' ? 500 : 400;
      res.setHeader('x-amzn-errortype', e.type);
      res.end(JSON.stringify({ __type: e.type, message: e.message }));
    }
  };

  const server: Server = createServer((req, res) => void handle(req, res));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;

  return {
    endpoint: `http://127.0.0.1:${port}`,
    region,
    calls,
    secretCalls,
    secretsByName: () =>
      Object.fromEntries([...secretArns].map(([name, arn]) => [name, { arn, value: secrets[arn]! }])),
    tasks,
    launched,
    instances(provider) {
      const mine = instances.filter((i) => i.provider === provider);
      return { booting: mine.filter((i) => !i.ready).length, ready: mine.filter((i) => i.ready).length };
    },
    setMaxInstances(provider, max) {
      pools.get(provider)!.maxInstances = max;
      schedule();
    },
    setProvisioningTimeout(ms) {
      provisioning.timeoutMs = ms;
    },
    logs: (taskArn, container) => {
      const task = tasks.find((t) => t.taskArn === taskArn);
      if (!task) throw new Error(`no task ${taskArn}`);
      return o.engine.logs(engineName(task, container));
    },
    async killTask(taskArn) {
      const task = tasks.find((t) => t.taskArn === taskArn);
      if (!task) throw new Error(`no task ${taskArn}`);
      await Promise.all(
        task.containers
          .filter((c) => c.lastStatus === 'RUNNING')
          .map((c) => o.engine.podman(['kill', '--signal', 'KILL', c.engineName]).catch(() => {})),
      );
    },
    async waitForTask(pred, timeoutMs = 60_000) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const hit = tasks.find(pred);
        if (hit) return hit;
        if (Date.now() > deadline)
          throw new Error(
            `no task matched within ${timeoutMs} ms; tasks: ${JSON.stringify(tasks.map((t) => [t.taskArn.split('/').pop(), t.lastStatus, t.stopCode, t.stoppedReason]))}`,
          );
        await new Promise((r) => setTimeout(r, 100));
      }
    },
    async close() {
      closed = true;
      for (const t of tasks) clearTimeout(t.provisioningTimer);
      for (const i of instances) clearTimeout(i.idleTimer);
      for (const t of tasks) for (const w of t.waiters) w.kill();
      for (const t of tasks) for (const f of t.firelens ?? []) f.abandon();
      const done = new Promise<void>((resolve) => server.close(() => resolve()));
      // Keep-alive connections (fetch keeps them) would hold close() open until they time out.
      server.closeAllConnections();
      await done;
    },
  };
}
