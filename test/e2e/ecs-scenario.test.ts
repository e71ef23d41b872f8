/**
 * One scenario on the production drivers, no mocks: control as its own process with
 * GANTRY_COMPUTE=ecs against the ECS stand-in (which runs every task's containers in podman) and
 * GANTRY_QUEUE=sqs against fauxqs; the runner image and examples/hello's image built here, pushed to
 * a loopback registry and pulled from it by the stand-in; callers are the official fal client.
 *
 * The story, in order: a first request scales from zero through an instance boot; a burst scales
 * out onto a second instance and, with the first pool unable to grow, onto the second machine type;
 * a task SIGKILLed mid-request (its request completes once, on another runner); control SIGKILLed
 * and started again with requests queued and in flight (nothing lost, no task left unclaimed); and
 * back to zero tasks and zero instances. Throughout, no secret value travels in any ECS call.
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createFalClient, type FalClient } from '@fal-ai/client';
import { afterAll, beforeAll, describe, expect, it, onTestFailed } from 'vitest';
import { openRunnerToken } from '../../contract/src/runner-token-seal.ts';
import { pushNodeBase } from '../support/base-image.ts';
import { eventually } from '../support/control.ts';
import { type ControlProcess, controlProcess } from '../support/control-process.ts';
import { type EcsStandin, type StandinTask, startEcsStandin } from '../support/ecs-standin.ts';
import { buildGantryImage, buildRepoImage, pushImage } from '../support/gantry-images.ts';
import { startTestRegistry, type TestRegistry } from '../support/oci-registry.ts';
import { startTestEngine, type TestEngine } from '../support/podman.ts';
import { openQueue, type QueueUnderTest } from '../support/queues.ts';
import { completed, isLive, requestRows, result, runnerRows, submit } from '../support/requests.ts';

/** Boot delays are stand-in settings: seconds here, where a GPU instance takes 80-120 s. */
const A10G_BOOT_MS = 1_500;
const POOLS = {
  // Grows to two instances, then cannot: the third runner of the burst must go elsewhere.
  'pool-a10g': { gpusPerInstance: 1, maxInstances: 2, bootMs: A10G_BOOT_MS, scaleInAfterMs: 2_000 },
  'pool-l4': { gpusPerInstance: 1, maxInstances: 1, bootMs: 1_000, scaleInAfterMs: 2_000 },
};
const APP = 'hello';
const HF_TOKEN = `hf_${randomBytes(16).toString('hex')}`;

let registry: TestRegistry;
let engine: TestEngine;
let ecs: EcsStandin;
let queue: QueueUnderTest;
let control: ControlProcess;
let dataDir: string;
let fal: FalClient;
let appImage: string;

const runnerOf = (t: StandinTask) => t.tags.find((x) => x.key === 'gantry:runner')?.value ?? '';
const alive = () => ecs.tasks.filter((t) => t.lastStatus !== 'STOPPED');
const ok = async (r: Promise<Response>) => {
  const res = await r;
  if (!res.ok) throw new Error(`${res.status} ${await res.text()}`);
  return res;
};

/** What the stand-in ran and what control recorded, to read a failure by. */
async function dumpState(): Promise<void> {
  const tasks = ecs.tasks.map((t) => ({
    runner: runnerOf(t).slice(0, 8),
    provider: t.capacityProviderName,
    instance: t.instance?.id,
    status: t.lastStatus,
    stop: [t.stopCode, t.stoppedReason].filter(Boolean).join(': '),
  }));
  const runners = (await runnerRows(control.admin, APP).catch(() => [])).map((r) => ({
    runner: r.id.slice(0, 8),
    detail: r.detail,
    history: r.history.map((h) => h.state).join('>'),
  }));
  console.log(JSON.stringify({ tasks, runners }, null, 1));
}

/** What a fal caller does with a request it submitted: follows its status, then fetches the result. */
async function resultOf(requestId: string) {
  await fal.queue.subscribeToStatus(`test/${APP}`, { requestId, mode: 'polling', pollInterval: 200 });
  return fal.queue.result(`test/${APP}`, { requestId });
}

/** A container's environment as the engine started it (the stand-in's task containers are kept). */
async function envOf(task: StandinTask, container: string): Promise<Map<string, string>> {
  const out = await engine.podman([
    'inspect',
    '--format',
    '{{json .Config.Env}}',
    `ecs-${task.taskArn.split('/').pop()}-${container}`,
  ]);
  return new Map(
    (JSON.parse(out) as string[]).map((e) => [e.slice(0, e.indexOf('=')), e.slice(e.indexOf('=') + 1)]),
  );
}

beforeAll(async () => {
  registry = await startTestRegistry();
  engine = await startTestEngine({ insecureRegistries: [registry.host] });
  const base = await pushNodeBase(registry.host);
  const [runnerTag, appTag] = await Promise.all([
    buildGantryImage({
      component: 'runner',
      baseImage: base,
      tag: `${registry.host}/gantry/runner:scenario`,
      env: engine.env,
    }).then((b) => b.tag),
    buildRepoImage({
      containerfile: 'examples/hello/Containerfile',
      baseImage: base,
      tag: `${registry.host}/acme/hello:scenario`,
      env: engine.env,
    }),
  ]);
  // By digest, as a user deploys; removed from the engine so the first task really pulls them.
  const [runnerImage, app] = await Promise.all([
    pushImage(runnerTag, engine.env),
    pushImage(appTag, engine.env),
  ]);
  appImage = app;
  await engine.podman(['rmi', '--force', runnerTag, appTag]);

  ecs = await startEcsStandin({
    engine,
    clusters: ['gantry'],
    capacityProviders: POOLS,
    // How long a task waits for an instance before TaskFailedToStart (ECS: when the pool cannot grow).
    provisioningTimeoutMs: 4_000,
  });
  queue = await openQueue('sqs');
  dataDir = await mkdtemp(path.join(tmpdir(), 'gantry-ecs-scenario-'));
  control = await controlProcess({
    dataDir,
    env: {
      ...queue.env,
      GANTRY_COMPUTE: 'ecs',
      GANTRY_ECS_CLUSTER: 'gantry',
      GANTRY_ECS_SUBNETS: 'subnet-1',
      GANTRY_ECS_SECURITY_GROUPS: 'sg-1',
      GANTRY_ECS_CAPACITY_PROVIDERS: JSON.stringify({ 'GPU-A10G': 'pool-a10g', 'GPU-L4': 'pool-l4' }),
      GANTRY_ECS_RUNNER_IMAGE: runnerImage,
      GANTRY_ECS_REGION: ecs.region,
      GANTRY_ECS_EXECUTION_ROLE_ARN: 'arn:aws:iam::000000000000:role/gantry-exec',
      GANTRY_ECS_POLL_MS: '500',
      GANTRY_LEASE_SECONDS: '5',
      AWS_ENDPOINT_URL_ECS: ecs.endpoint,
      AWS_ENDPOINT_URL_SECRETS_MANAGER: ecs.endpoint,
    },
  });
  await control.start();
  fal = createFalClient({ proxyUrl: { url: `${control.url}/fal/proxy`, when: 'always' } });

  await ok(control.admin('/v1/apps', { body: { owner: 'test', name: APP, auth_mode: 'public' } }));
  await ok(
    control.admin(`/v1/apps/test/${APP}/environments/production/scaling`, {
      method: 'PATCH',
      body: { max_concurrency: 3, keep_alive: 120 },
    }),
  );
  await ok(
    control.admin(`/v1/apps/test/${APP}/environments/production/secrets`, {
      method: 'PUT',
      body: { secrets: { HF_TOKEN } },
    }),
  );
  await ok(
    control.admin(`/v1/apps/test/${APP}/environments/production/revisions`, {
      body: {
        image: appImage,
        settings: { machine_type: ['GPU-A10G', 'GPU-L4'], max_multiplexing: 1 },
        activate: true,
        strategy: 'recreate',
      },
    }),
  );
}, 600_000);

afterAll(async () => {
  await control?.stop();
  await ecs?.close();
  await queue?.close();
  await engine?.close();
  await registry?.close();
  if (dataDir) await rm(dataDir, { recursive: true, force: true });
});

describe('Gantry on ECS (stand-in), SQS (fauxqs) and the fal client', () => {
  it('scales from zero, out, over a lost task, across a control restart, and back to zero', async () => {
    onTestFailed(dumpState);
    // 1. Scale from zero: RunTask is accepted and the task waits in PROVISIONING while the first
    //    instance boots; that wait is not a crash, and the request is served once it runs.
    const first = await fal.subscribe(`test/${APP}`, { input: { name: 'Ada' }, pollInterval: 200 });
    expect(first.data).toEqual({ message: 'Hello, Ada!' });
    expect(ecs.launched).toEqual({ 'pool-a10g': 1 });
    expect(ecs.tasks).toHaveLength(1);
    const task1 = ecs.tasks[0]!;
    expect(task1).toMatchObject({ capacityProviderName: 'pool-a10g', lastStatus: 'RUNNING' });
    expect(task1.startedAt! - task1.createdAt).toBeGreaterThanOrEqual(A10G_BOOT_MS / 1000);
    const [r1] = await runnerRows(control.admin, APP);
    const history1 = r1!.history.map((h) => h.state);
    expect(history1).not.toContain('CRASH_BACKOFF');
    // The pull from the registry was seen and recorded before the runner started its setup.
    expect(history1[0]).toBe('PENDING');
    expect(history1.indexOf('PULLING')).toBeGreaterThan(0);
    expect(history1.indexOf('PULLING')).toBeLessThan(history1.indexOf('SETUP'));

    // 2. A burst of six with one runner warm: the autoscaler grows to max_concurrency (3). The A10G
    //    pool boots its second (and last) instance for one runner; the next waits, gets
    //    TaskFailedToStart, and runs on the next machine type. No wait for an instance is a crash.
    const names = ['Grace', 'Linus', 'Barbara', 'Ken', 'Dennis', 'Margaret'];
    const burst = await Promise.all(
      names.map((name) => fal.queue.submit(`test/${APP}`, { input: { name, delay_ms: 3_000 } })),
    );
    const waited = await ecs.waitForTask((t) => t.stopCode === 'TaskFailedToStart', 60_000);
    expect(waited.capacityProviderName).toBe('pool-a10g');
    expect(waited.stoppedReason).toMatch(/insufficient capacity/);
    // Its runner's task on the next machine type started (waitForTask fails if it never does).
    await ecs.waitForTask(
      (t) => t.capacityProviderName === 'pool-l4' && runnerOf(t) === runnerOf(waited) && !!t.startedAt,
      60_000,
    );
    for (const [i, name] of names.entries()) {
      const r = await resultOf(burst[i]!.request_id);
      expect(r.data).toEqual({ message: `Hello, ${name}!` });
    }
    // Two A10G instances at once (the most that pool may have), and the L4 one.
    const onA10g = ecs.tasks.filter(
      (t) => t.capacityProviderName === 'pool-a10g' && t.lastStatus === 'RUNNING',
    );
    expect(new Set(onA10g.map((t) => t.instance!.id)).size).toBe(2);
    expect(ecs.launched).toEqual({ 'pool-a10g': 2, 'pool-l4': 1 });
    // All three become ready (the one on L4 too); none counted its wait as a crash.
    const afterBurst = await eventually(
      async () => {
        const rows = await runnerRows(control.admin, APP);
        return rows.every((r) => r.history.some((h) => h.state === 'IDLE')) ? rows : undefined;
      },
      60_000,
      'the three runners to be ready',
    );
    expect(afterBurst).toHaveLength(3);
    for (const r of afterBurst) expect(r.history.map((h) => h.state)).not.toContain('CRASH_BACKOFF');

    // 3. A task SIGKILLed mid-request (its instance lost): the request is given to another runner
    //    and completes once. (8 s of work: room to see it in progress and kill it on a busy machine.)
    const slow = await fal.queue.submit(`test/${APP}`, { input: { name: 'Slow', delay_ms: 8_000 } });
    const victim = await eventually(
      async () => {
        const row = (await requestRows(control.admin, APP)).find((r) => r.request_id === slow.request_id);
        return row?.status === 'IN_PROGRESS' && row.runner_id ? row.runner_id : undefined;
      },
      60_000,
      'the slow request to be in progress',
    );
    const victimTask = ecs.tasks.find((t) => runnerOf(t) === victim && t.lastStatus === 'RUNNING')!;
    await ecs.killTask(victimTask.taskArn);
    const slowResult = await resultOf(slow.request_id);
    expect(slowResult.data).toEqual({ message: 'Hello, Slow!' });
    const slowRow = (await requestRows(control.admin, APP)).find((r) => r.request_id === slow.request_id)!;
    // Interrupted once, completed once, by another runner.
    expect(slowRow).toMatchObject({ status: 'COMPLETED', attempts: 2, result_status: 200 });
    expect(slowRow.runner_id).not.toBe(victim);
    expect(victimTask).toMatchObject({ lastStatus: 'STOPPED', stopCode: 'EssentialContainerExited' });

    // 4. Control SIGKILLed in the middle, and started again on its data: requests in flight on the
    //    runners there are, more queued, and a new runner's task waiting in PROVISIONING (neither
    //    pool may grow now, and the wait outlasts the restart).
    ecs.setProvisioningTimeout(120_000);
    ecs.setMaxInstances('pool-a10g', 0);
    ecs.setMaxInstances('pool-l4', 0);
    await ok(
      control.admin(`/v1/apps/test/${APP}/environments/production/scaling`, {
        method: 'PATCH',
        body: { max_concurrency: 4 },
      }),
    );
    // Every instance holds a task (the lost task's one has been scaled in).
    await eventually(
      async () => {
        const n = Object.keys(POOLS).reduce(
          (sum, p) => sum + ecs.instances(p).ready + ecs.instances(p).booting,
          0,
        );
        return n === alive().length ? true : undefined;
      },
      30_000,
      'no idle instance',
    );
    const restartNames = ['Alan', 'Edsger', 'Frances', 'John'];
    const beforeRestart = await Promise.all(
      restartNames.map((name) => submit(control.url, APP, { name, delay_ms: 3_000 })),
    );
    // Three instance slots at most (two A10G, one L4): a fourth runner's task must wait.
    const waiting = await ecs.waitForTask((t) => t.lastStatus === 'PROVISIONING', 60_000);
    const runnersBefore = new Set((await runnerRows(control.admin, APP)).filter(isLive).map((r) => r.id));
    await control.kill();
    const restartedAt = Date.now();
    await control.start();
    ecs.setMaxInstances('pool-a10g', POOLS['pool-a10g'].maxInstances);
    ecs.setMaxInstances('pool-l4', POOLS['pool-l4'].maxInstances);
    // It looked for the tasks Gantry started, by startedBy, and stopped the one no record claims
    // that would never reach it (still waiting for an instance).
    expect(
      ecs.calls.some(
        (c) => c.at >= restartedAt && c.op === 'ListTasks' && JSON.parse(c.body).startedBy === 'gantry',
      ),
    ).toBe(true);
    expect(waiting).toMatchObject({
      lastStatus: 'STOPPED',
      stoppedReason: 'gantry: no runner record claims this task',
    });
    // Nothing lost: every request completes, each with its own answer.
    for (const [i, id] of beforeRestart.entries()) {
      const s = await completed(() => control.url, APP, id, 90_000);
      expect(s.error).toBeUndefined();
      expect(await result(control.url, APP, id)).toMatchObject({
        status: 200,
        body: { message: `Hello, ${restartNames[i]}!` },
      });
    }
    // Nothing orphaned: every task still alive is claimed by a live runner record, and the tasks of
    // the runners from before the restart have ended.
    await eventually(
      async () => {
        const live = new Set((await runnerRows(control.admin, APP)).filter(isLive).map((r) => r.id));
        const unclaimed = alive().filter((t) => !live.has(runnerOf(t)));
        return unclaimed.length === 0 ? true : undefined;
      },
      60_000,
      'every running task to be claimed by a live runner record',
    );
    for (const t of ecs.tasks.filter((x) => runnersBefore.has(runnerOf(x)))) {
      expect(t.lastStatus).toBe('STOPPED');
    }

    // 5. Back to zero: idle runners drain, their tasks stop, managed scaling ends the instances.
    await ok(
      control.admin(`/v1/apps/test/${APP}/environments/production/scaling`, {
        method: 'PATCH',
        body: { keep_alive: 0 },
      }),
    );
    await eventually(
      async () => {
        const live = (await runnerRows(control.admin, APP)).filter(isLive);
        const instances = Object.keys(POOLS).map((p) => ecs.instances(p));
        return live.length === 0 &&
          alive().length === 0 &&
          instances.every((i) => i.booting === 0 && i.ready === 0)
          ? true
          : undefined;
      },
      60_000,
      'no runner, no task and no instance',
    );

    // 6. No secret value in any ECS call: the app's secret, each environment's runner key, and the
    //    bearer token of every runner that ran (opened from its sealed form, as the runner does).
    const secretValues = [HF_TOKEN];
    for (const t of ecs.tasks.filter((x) => x.startedAt)) {
      const env = await envOf(t, 'runner');
      const key = env.get('GANTRY_RUNNER_KEY')!;
      const token = openRunnerToken(key, runnerOf(t), env.get('GANTRY_RUNNER_TOKEN_SEALED')!);
      expect(token.length).toBeGreaterThan(16);
      secretValues.push(key, token);
      // The app got its secret (from the stand-in's Secrets Manager, at start), and nothing of the runner's.
      const appEnv = await envOf(t, 'app');
      expect(appEnv.get('HF_TOKEN')).toBe(HF_TOKEN);
      expect(appEnv.has('GANTRY_RUNNER_KEY')).toBe(false);
    }
    expect(secretValues.length).toBeGreaterThan(8);
    const sent = ecs.calls.map((c) => c.body).join('\n');
    expect(ecs.calls.filter((c) => c.op === 'RunTask').length).toBeGreaterThanOrEqual(6);
    for (const value of secretValues) expect(sent).not.toContain(value);
  });
});
