/**
 * The runner lifecycle and rollouts through the real control service (PGlite, the embedded queue,
 * the HTTP routes), with a fake compute driver: runners are reported through the runner protocol
 * by the test, and the clock is the test's, so startup_timeout and backoffs are exact.
 */
import { mkdtempSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { PgliteClient } from '../../../sql/src/pglite-client.ts';
import { buildApp, type ControlService } from '../app.ts';
import { hashKey } from '../auth.ts';
import {
  type ComputeDriver,
  type RunnerExit,
  RunnerSchedulingError,
  type RunnerSpec,
} from '../compute/compute-driver.ts';
import { loadConfig } from '../config.ts';
import { StoreQueue } from '../queue/store-queue.ts';
import { Store } from '../store/store.ts';

/** A small folder for command revisions to snapshot. */
const APP_DIR = mkdtempSync(path.join(tmpdir(), 'gantry-app-'));

class FakeCompute implements ComputeDriver {
  readonly started: RunnerSpec[] = [];
  readonly stopped: string[] = [];
  readonly killed: string[] = [];
  failNext: Error | undefined;
  /** Runners the "machine" holds in all (free GPUs), when the test sets it. */
  capacity: number | undefined;
  room(): number | undefined {
    return this.capacity === undefined ? undefined : this.capacity - this.started.length;
  }
  private listener: ((e: RunnerExit) => void) | undefined;
  async start(spec: RunnerSpec): Promise<void> {
    const err = this.failNext;
    this.failNext = undefined;
    if (err) throw err;
    this.started.push(spec);
  }
  async stop(id: string): Promise<void> {
    this.stopped.push(id);
  }
  async kill(id: string): Promise<void> {
    this.killed.push(id);
  }
  onExit(listener: (e: RunnerExit) => void): void {
    this.listener = listener;
  }
  exit(runnerId: string, code: number, tail: string[] = []): void {
    this.listener?.({ runnerId, code, signal: null, tail });
  }
  async close(): Promise<void> {}
}

const KEY = 'gk_admin_test';
const BASE = '/v1/apps/t/app/environments/production';
let now = 1_000_000;
let svc: ControlService;
let store: Store;
let compute: FakeCompute;

beforeEach(async () => {
  now = 1_000_000;
  const db = await PgliteClient.open(undefined);
  store = new Store(db, () => now);
  await store.migrate();
  await store.keys.put('admin', hashKey(KEY), 'ADMIN', 'test');
  compute = new FakeCompute();
  svc = await buildApp({
    config: loadConfig({ GANTRY_LOG_LEVEL: 'silent' }),
    store,
    queue: new StoreQueue(db, () => now),
    compute,
    clock: () => now,
  });
});
afterEach(async () => {
  await svc.close();
});

async function call(method: 'GET' | 'POST' | 'PUT' | 'PATCH', url: string, body?: unknown) {
  const res = await svc.app.inject({
    method,
    url,
    headers: { authorization: `Key ${KEY}` },
    ...(body === undefined ? {} : { payload: body as Record<string, unknown> }),
  });
  return { status: res.statusCode, body: res.json() as Record<string, unknown> & { rollouts?: Rollout[] } };
}
interface Rollout {
  state: string;
  strategy: string;
  from_revision: number | null;
  to_revision: number;
  detail: string | null;
  restart: boolean;
}

const spec = (i: number) => compute.started[i]!;
async function report(s: RunnerSpec, state: string, extra: Record<string, unknown> = {}) {
  const res = await svc.app.inject({
    method: 'POST',
    url: `/internal/v1/runners/${s.runnerId}/state`,
    headers: { authorization: `Bearer ${s.token}` },
    payload: { state, ...extra },
  });
  expect(res.statusCode).toBe(204);
  await svc.scaler.reconcile(s.environmentId);
}
async function pull(s: RunnerSpec, waitMs = 0) {
  const res = await svc.app.inject({
    method: 'POST',
    url: `/internal/v1/runners/${s.runnerId}/pull`,
    headers: { authorization: `Bearer ${s.token}` },
    payload: { max: 1, wait_ms: waitMs },
  });
  return res.json() as { jobs: unknown[]; drain: boolean };
}
const runnerOf = (id: string) => store.runners.get(id);
/**
 * A new revision, rolled out: through the deploy gate (`rolling`, the default), or `recreate` for
 * tests of the autoscaler that start from an active revision with no runner.
 */
async function deploy(settings: Record<string, unknown> = {}, strategy?: 'recreate') {
  const r = await call('POST', `${BASE}/revisions`, {
    command: ['app'],
    cwd: APP_DIR,
    settings,
    activate: true,
    ...(strategy ? { strategy } : {}),
  });
  expect(r.status).toBe(201);
  return r.body;
}
async function submit() {
  const r = await svc.app.inject({ method: 'POST', url: '/queue/t/app', payload: { name: 'x' } });
  expect(r.statusCode).toBe(200);
}
const envId = async () =>
  (await store.apps.getEnvironment((await store.apps.get('t', 'app'))!.id, 'production'))!;

describe('runner lifecycle', () => {
  beforeEach(async () => {
    await call('POST', '/v1/apps', { owner: 't', name: 'app', auth_mode: 'public' });
  });

  it('a first request starts a runner at once; its cold start is kept', async () => {
    await deploy({}, 'recreate');
    await submit();
    expect(compute.started).toHaveLength(1);
    now += 800;
    await report(spec(0), 'SETUP');
    await report(spec(0), 'IDLE');
    expect((await runnerOf(spec(0).runnerId))?.cold_start_ms).toBe(800);
  });

  it("starts no more runners than the driver has room for (free GPUs), and names the runner's app", async () => {
    compute.capacity = 1;
    await call('PATCH', `${BASE}/scaling`, { max_concurrency: 3 });
    // Switched at once: the deploy gate (its own tests) would hold further starts until one is ready.
    await deploy({}, 'recreate');
    await submit();
    await submit();
    await submit();
    await svc.scaler.reconcile(spec(0).environmentId);
    // One start, and no failed ones recorded while the host is full.
    expect(compute.started).toHaveLength(1);
    expect(await store.runners.list(spec(0).environmentId)).toHaveLength(1);
    expect(spec(0).app).toEqual({ owner: 't', name: 'app', environment: 'production' });
    compute.capacity = 3;
    await svc.scaler.reconcile(spec(0).environmentId);
    expect(compute.started.length).toBeGreaterThan(1);
  });

  it('kills a runner stuck starting past startup_timeout, backs off, then replaces it', async () => {
    await deploy({ startup_timeout: 60 }, 'recreate');
    await submit();
    await report(spec(0), 'SETUP');
    now += 61_000;
    const env = await envId();
    await svc.scaler.reconcile(env.id);
    expect(compute.killed).toEqual([spec(0).runnerId]);
    const dead = await runnerOf(spec(0).runnerId);
    expect(dead?.state).toBe('CRASH_BACKOFF');
    expect(dead?.detail).toMatch(/startup_timeout \(60 s\)/);
    expect(await svc.scaler.backoff(env.id)).toMatchObject({ kind: 'crash', crashes: 1 });
    await svc.scaler.reconcile(env.id);
    expect(compute.started).toHaveLength(1); // backing off: test backoff step is the default 30 s
    now += 30_001;
    await svc.scaler.reconcile(env.id);
    expect(compute.started).toHaveLength(2);
    await report(spec(1), 'IDLE');
    expect(await svc.scaler.backoff(env.id)).toBeUndefined();
  });

  it("the drain grace is the environment's termination_grace_period_seconds, set without a deploy", async () => {
    await deploy({}, 'recreate');
    const bad = await call('PATCH', `${BASE}/scaling`, { termination_grace_period_seconds: -1 });
    expect(bad.status).toBe(400);
    expect(bad.body).toMatchObject({ code: 'GANTRY_ERR_INVALID_SETTING' });
    const ok = await call('PATCH', `${BASE}/scaling`, { termination_grace_period_seconds: 900 });
    expect(ok.status).toBe(200);
    await submit();
    expect(spec(0).drainGraceSeconds).toBe(900);
  });

  it('a request cancelled while it runs records error_type client_cancelled, whatever the app answered', async () => {
    await deploy({}, 'recreate');
    await submit();
    await report(spec(0), 'IDLE');
    const [job] = (await pull(spec(0))).jobs as { request_id: string; receipt: string }[];
    const cancel = await svc.app.inject({
      method: 'PUT',
      url: `/queue/t/app/requests/${job!.request_id}/cancel`,
    });
    expect(cancel.statusCode).toBe(202);
    const at = new Date(now).toISOString();
    const res = await svc.app.inject({
      method: 'POST',
      url: `/internal/v1/runners/${spec(0).runnerId}/results`,
      headers: { authorization: `Bearer ${spec(0).token}` },
      payload: {
        receipt: job!.receipt,
        request_id: job!.request_id,
        outcome: 'response',
        status_code: 500,
        body: { detail: 'stopped early' },
        started_at: at,
        finished_at: at,
      },
    });
    expect(res.statusCode).toBe(200);
    expect(await store.requests.get(job!.request_id)).toMatchObject({
      status: 'COMPLETED',
      error_type: 'client_cancelled',
    });
  });

  it('no capacity: the runner is a runner_scheduling_failure and starts are retried after 20 s', async () => {
    await deploy({}, 'recreate');
    compute.failNext = new RunnerSchedulingError('no GPU-A10G capacity');
    await submit();
    const env = await envId();
    const [r] = await store.runners.list(env.id, 0);
    expect(r).toMatchObject({ state: 'TERMINATED' });
    expect(r?.detail).toMatch(/^runner_scheduling_failure: no GPU-A10G capacity/);
    expect(await svc.scaler.backoff(env.id)).toMatchObject({ kind: 'capacity', until: now + 20_000 });
    now += 19_000;
    await svc.scaler.reconcile(env.id);
    expect(compute.started).toHaveLength(0);
    now += 1_001;
    await svc.scaler.reconcile(env.id);
    expect(compute.started).toHaveLength(1);
  });
});

describe('rollouts', () => {
  beforeEach(async () => {
    await call('POST', '/v1/apps', { owner: 't', name: 'app', auth_mode: 'public' });
    await deploy();
    await submit();
    await report(spec(0), 'IDLE');
  });
  const rollouts = async () => (await call('GET', `${BASE}/rollouts`)).body.rollouts!;

  it('rolling: the candidate takes no work until it is healthy, then the switch drains the old runner', async () => {
    await deploy(); // revision 2, with a runner of revision 1 live
    const [latest] = await rollouts();
    expect(latest).toMatchObject({
      state: 'in_progress',
      strategy: 'rolling',
      from_revision: 1,
      to_revision: 2,
    });
    expect((await envId()).active_revision_id).toBe(spec(0).revision.id);
    expect(spec(1).revision.number).toBe(2);
    expect(await pull(spec(1))).toEqual({ jobs: [], drain: false });
    await report(spec(1), 'IDLE');
    expect((await rollouts())[0]).toMatchObject({ state: 'completed' });
    expect((await envId()).active_revision_id).toBe(spec(1).revision.id);
    expect(compute.stopped).toContain(spec(0).runnerId);
    expect((await pull(spec(0))).drain).toBe(true);
  });

  it('drain is a promise: a pull already waiting when its runner is told to drain starts nothing', async () => {
    // The runner takes the queued request: its pull gate said "yes" a moment ago.
    expect((await pull(spec(0))).jobs).toHaveLength(1);
    const waiting = pull(spec(0), 20_000);
    // Let the long poll reach the queue before the drain, as it would in production.
    await new Promise((resolve) => setImmediate(resolve));
    await svc.scaler.drain(spec(0).runnerId);
    await submit();
    const answer = await waiting;
    expect(answer).toEqual({ jobs: [], drain: true });
    const queued = await store.requests.counts((await envId()).id);
    expect(queued.queued).toBe(1);
  });

  it('a drained runner starts nothing, whatever its pull gate said a moment ago', async () => {
    expect((await pull(spec(0))).jobs).toHaveLength(1);
    await store.runners.requestDrain(spec(0).runnerId); // by another control process sharing the store
    await submit();
    expect(await pull(spec(0))).toEqual({ jobs: [], drain: true });
    expect((await store.requests.counts((await envId()).id)).queued).toBe(1);
  });

  it('rolling aborts and keeps the old revision when the new one fails to start', async () => {
    await deploy();
    await report(spec(1), 'TERMINATED', { detail: 'setup() threw: CUDA out of memory' });
    const [latest] = await rollouts();
    expect(latest?.state).toBe('aborted');
    expect(latest?.detail).toMatch(/CUDA out of memory/);
    expect((await envId()).active_revision_id).toBe(spec(0).revision.id);
    expect(compute.stopped).not.toContain(spec(0).runnerId);
    // The old revision keeps serving: no backoff held against it.
    expect(await svc.scaler.backoff((await envId()).id)).toBeUndefined();
  });

  it('a restart replaces the runners of the same revision without a gap', async () => {
    now += 1_000;
    const r = await call('POST', `${BASE}/rollouts`, { reason: 'secret rotated' });
    expect(r.status).toBe(202);
    expect(r.body).toMatchObject({ restart: true, strategy: 'rolling', from_revision: 1, to_revision: 1 });
    expect(spec(1).revision.number).toBe(1);
    expect(compute.stopped).toEqual([]);
    await report(spec(1), 'IDLE');
    expect(compute.stopped).toEqual([spec(0).runnerId]);
    expect((await rollouts())[0]).toMatchObject({ state: 'completed', reason: 'secret rotated' });
  });

  it('revisions are immutable: rolling back to revision 1 runs the code revision 1 was registered with', async () => {
    await writeFile(path.join(APP_DIR, 'app.js'), 'version 2');
    await deploy();
    await writeFile(path.join(APP_DIR, 'app.js'), 'version 1'); // back to what it was (the test folder starts empty)
    const r = await call('PUT', `${BASE}/active-revision`, { revision: 1, strategy: 'recreate' });
    expect(r.status).toBe(200);
    const one = spec(0).revision;
    const two = spec(1).revision;
    expect(one.cwd).not.toBe(APP_DIR);
    expect(two.cwd).not.toBe(one.cwd);
    await expect(readFile(path.join(one.cwd!, 'app.js'))).rejects.toThrow();
    expect(await readFile(path.join(two.cwd!, 'app.js'), 'utf8')).toBe('version 2');
  });

  it('recreate and a rollback through PUT active-revision switch at once', async () => {
    await call('POST', `${BASE}/revisions`, { command: ['app'], cwd: APP_DIR });
    const r = await call('PUT', `${BASE}/active-revision`, { revision: 2, strategy: 'recreate' });
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject({
      number: 2,
      active: true,
      rollout: { state: 'completed', strategy: 'recreate' },
    });
    expect(compute.stopped).toEqual([spec(0).runnerId]);
  });
});

describe('the deploy gate', () => {
  beforeEach(async () => {
    await call('POST', '/v1/apps', { owner: 't', name: 'app', auth_mode: 'public' });
  });
  const rollouts = async () => (await call('GET', `${BASE}/rollouts`)).body.rollouts!;
  async function submitted(): Promise<string> {
    const r = await svc.app.inject({ method: 'POST', url: '/queue/t/app', payload: { name: 'x' } });
    expect(r.statusCode).toBe(200);
    return (r.json() as { request_id: string }).request_id;
  }
  const status = async (id: string) =>
    (await svc.app.inject({ method: 'GET', url: `/queue/t/app/requests/${id}/status` })).json() as Record<
      string,
      unknown
    >;

  it('scaled to zero, a first deploy serves only once one runner of it passed its health check', async () => {
    await deploy();
    expect((await rollouts())[0]).toMatchObject({
      state: 'in_progress',
      strategy: 'rolling',
      to_revision: 1,
    });
    expect((await envId()).active_revision_id).toBeNull();
    expect(compute.started).toHaveLength(1);
    // Requests sent meanwhile wait for it; its runner takes none before it is proven.
    const id = await submitted();
    expect(await pull(spec(0))).toEqual({ jobs: [], drain: false });
    expect((await status(id)).status).toBe('IN_QUEUE');
    await report(spec(0), 'IDLE');
    expect((await rollouts())[0]).toMatchObject({ state: 'completed' });
    expect((await envId()).active_revision_id).toBe(spec(0).revision.id);
    const { jobs } = (await pull(spec(0))) as { jobs: { request_id: string }[] };
    expect(jobs.map((j) => j.request_id)).toEqual([id]);
  });

  it('a first deploy whose app crashes at start never serves: the rollout fails with its output, waiting requests fail', async () => {
    await deploy();
    const id = await submitted();
    await report(spec(0), 'SETUP');
    compute.exit(spec(0).runnerId, 1, ['loading model…', 'ModuleNotFoundError: No module named torch']);
    await svc.scaler.settle();
    const [latest] = await rollouts();
    expect(latest?.state).toBe('aborted');
    expect(latest?.detail).toMatch(/No module named torch/);
    expect((await envId()).active_revision_id).toBeNull();
    expect(await store.requests.get(id)).toMatchObject({
      status: 'COMPLETED',
      result_status: 504,
      error_type: 'startup_timeout',
      error: expect.stringMatching(/No module named torch/),
    });
    // Nothing serves, so nothing is accepted until a revision passes the gate.
    const r = await svc.app.inject({ method: 'POST', url: '/queue/t/app', payload: {} });
    expect(r.json()).toMatchObject({ code: 'GANTRY_ERR_NO_ACTIVE_REVISION' });
  });

  it('a smoke request named by the revision goes to the candidate only; its failure aborts the rollout with the answer', async () => {
    const smoke = { path: '/predict', input: { prompt: 'a cat' }, expect_status: 200 };
    await deploy({ smoke });
    expect(JSON.parse(spec(0).runnerEnv?.['GANTRY_SMOKE_REQUEST'] ?? 'null')).toEqual(smoke);
    await report(spec(0), 'IDLE');
    expect((await rollouts())[0]).toMatchObject({ state: 'completed' });
    // Scaling up starts runners cold, with no smoke request.
    await submitted();
    await submitted();
    await call('PATCH', `${BASE}/scaling`, { max_concurrency: 3 });
    await svc.scaler.reconcile((await envId()).id);
    expect(compute.started.length).toBeGreaterThan(1);
    for (const s of compute.started.slice(1)) expect(s.runnerEnv?.['GANTRY_SMOKE_REQUEST']).toBeUndefined();
    const candidates = compute.started.length;
    // The next revision answers its smoke request with a 500: the runner exits 3 with the answer.
    await deploy({ smoke });
    const candidate = spec(candidates);
    expect(candidate.runnerEnv?.['GANTRY_SMOKE_REQUEST']).toBeDefined();
    // As a real runner does: it says why in its last state report, then exits 3.
    await report(candidate, 'SETUP');
    await report(candidate, 'TERMINATED', {
      detail: 'smoke request POST /predict answered 500, expected 200: CUDA out of memory',
    });
    compute.exit(candidate.runnerId, 3, ['{"level":"info","msg":"terminated","exit_code":3}']);
    await svc.scaler.settle();
    expect((await rollouts())[0]).toMatchObject({
      state: 'aborted',
      to_revision: 2,
      detail:
        'the first runner ended before it was healthy: smoke request POST /predict answered 500, expected 200: CUDA out of memory',
    });
    expect((await envId()).active_revision_id).toBe(spec(0).revision.id);
  });

  it('the wait is bounded: a candidate not healthy within startup_timeout and the margin is stopped, the old revision serves', async () => {
    await deploy();
    await report(spec(0), 'IDLE');
    await deploy({ startup_timeout: 30 });
    await report(spec(1), 'SETUP');
    now += 30_000 + 59_000; // within startup_timeout + GANTRY_DEPLOY_GATE_MARGIN (60 s)
    await svc.scaler.reconcile((await envId()).id);
    expect((await rollouts())[0]).toMatchObject({ state: 'in_progress' });
    now += 2_000;
    await svc.scaler.reconcile((await envId()).id);
    expect((await rollouts())[0]).toMatchObject({
      state: 'aborted',
      detail: expect.stringMatching(/within 90 s/),
    });
    expect(compute.killed).toEqual([spec(1).runnerId]);
    expect((await envId()).active_revision_id).toBe(spec(0).revision.id);
  });

  it('a live revision that crash-loops is reported on status calls, and requests waiting for it fail with startup_timeout', async () => {
    await deploy({ startup_timeout: 60 }, 'recreate');
    const first = await submitted();
    const env = await envId();
    for (let i = 0; i < 3; i++) {
      expect(compute.started).toHaveLength(i + 1);
      compute.exit(spec(i).runnerId, 1, [`crash ${i + 1}`, 'RuntimeError: CUDA driver not found']);
      await svc.scaler.settle();
      if (i < 2) {
        now += 11 * 60_000; // past any backoff
        await svc.scaler.reconcile(env.id);
      }
    }
    // The first request waited far longer than startup_timeout behind three crashes: it failed.
    expect(await store.requests.get(first)).toMatchObject({
      status: 'COMPLETED',
      result_status: 504,
      error_type: 'startup_timeout',
      error: expect.stringMatching(/runners are crash-looping: .*CUDA driver not found/),
    });
    // A new one is told why it waits, then fails once it waited startup_timeout.
    const next = await submitted();
    expect(await status(next)).toMatchObject({
      status: 'IN_QUEUE',
      warning: expect.stringMatching(/^runners are crash-looping: .*CUDA driver not found/),
    });
    now += 61_000;
    await svc.scaler.reconcile(env.id);
    expect(await store.requests.get(next)).toMatchObject({
      status: 'COMPLETED',
      error_type: 'startup_timeout',
    });
  });
});
