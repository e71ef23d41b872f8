/**
 * Tenant isolation on the runner protocol: a runner of one app holds a valid token, and uses it
 * against another app's work. It must not extend, settle or delete what it was not handed, nor learn
 * which receipts exist; a runner that has ended takes no more work. Real control (PGlite, the
 * embedded queue, the HTTP routes); runners are played by the test through a fake compute driver.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { PgliteClient } from '../../../sql/src/pglite-client.ts';
import { buildApp, type ControlService } from '../app.ts';
import { hashKey } from '../auth.ts';
import type { ComputeDriver, RunnerExit, RunnerSpec } from '../compute/compute-driver.ts';
import { loadConfig } from '../config.ts';
import { StoreQueue } from '../queue/store-queue.ts';
import { Store } from '../store/store.ts';

/** A small folder for command revisions to snapshot. */
const APP_DIR = mkdtempSync(path.join(tmpdir(), 'gantry-app-'));

class FakeCompute implements ComputeDriver {
  readonly started: RunnerSpec[] = [];
  async start(spec: RunnerSpec): Promise<void> {
    this.started.push(spec);
  }
  async stop(): Promise<void> {}
  async kill(): Promise<void> {}
  private listener: ((e: RunnerExit) => void) | undefined;
  onExit(listener: (e: RunnerExit) => void): void {
    this.listener = listener;
  }
  exit(runnerId: string): void {
    this.listener?.({ runnerId, code: 1, signal: null, tail: [] });
  }
  async close(): Promise<void> {}
}

const KEY = 'gk_admin_test';
let svc: ControlService;
let store: Store;
let compute: FakeCompute;

beforeEach(async () => {
  const db = await PgliteClient.open(undefined);
  store = new Store(db);
  await store.migrate();
  await store.keys.put('admin', hashKey(KEY), 'ADMIN', 'test');
  compute = new FakeCompute();
  svc = await buildApp({
    config: loadConfig({ GANTRY_LOG_LEVEL: 'silent' }),
    store,
    queue: new StoreQueue(db),
    compute,
  });
});
afterEach(async () => {
  await svc.close();
});

async function admin(url: string, body: unknown) {
  const res = await svc.app.inject({
    method: 'POST',
    url,
    headers: { authorization: `Key ${KEY}` },
    payload: body as Record<string, unknown>,
  });
  expect(res.statusCode, res.body).toBeLessThan(300);
}

async function runner(s: RunnerSpec, route: string, payload: Record<string, unknown>) {
  const res = await svc.app.inject({
    method: 'POST',
    url: `/internal/v1/runners/${s.runnerId}/${route}`,
    headers: { authorization: `Bearer ${s.token}` },
    payload,
  });
  return { status: res.statusCode, body: res.body ? (res.json() as Record<string, unknown>) : {} };
}

/** Two apps, each with a runner that is ready (the first submit to each starts one). */
async function twoTenants(): Promise<{ victim: RunnerSpec; intruder: RunnerSpec; requestId: string }> {
  for (const name of ['victim', 'intruder']) {
    await admin('/v1/apps', { owner: 't', name, auth_mode: 'public' });
    await admin(`/v1/apps/t/${name}/environments/production/revisions`, {
      command: ['app'],
      cwd: APP_DIR,
      activate: true,
      strategy: 'recreate',
    });
  }
  const submit = async (name: string) => {
    const r = await svc.app.inject({ method: 'POST', url: `/queue/t/${name}`, payload: { n: 1 } });
    expect(r.statusCode).toBe(200);
    return (r.json() as { request_id: string }).request_id;
  };
  const requestId = await submit('victim');
  const victim = compute.started[0]!;
  // The intruder's app runs too, so it holds a live runner token of its own.
  const own = await submit('intruder');
  const intruder = compute.started[1]!;
  for (const s of [victim, intruder]) {
    expect((await runner(s, 'state', { state: 'IDLE' })).status).toBe(204);
  }
  // The intruder takes its own work, so it has a real receipt to learn the format from.
  const pulled = await runner(intruder, 'pull', { max: 1, wait_ms: 0 });
  expect((pulled.body.jobs as { request_id: string }[])[0]?.request_id).toBe(own);
  return { victim, intruder, requestId };
}

/** Receipts a runner could guess from the one it holds, if receipts followed a sequence. */
function guesses(): string[] {
  const out: string[] = [];
  for (let id = 1; id <= 6; id++) for (let count = 0; count <= 3; count++) out.push(`${id}.${count}`);
  return out;
}

describe('runner isolation', () => {
  it("a result for an unknown request with guessed receipts leaves another app's queued request runnable", async () => {
    const { victim, intruder, requestId } = await twoTenants();
    for (const receipt of guesses()) {
      await runner(intruder, 'results', {
        receipt,
        request_id: 'no-such-request',
        outcome: 'response',
        status_code: 200,
        body: {},
        started_at: new Date().toISOString(),
        finished_at: new Date().toISOString(),
      });
    }
    const pulled = await runner(victim, 'pull', { max: 1, wait_ms: 0 });
    expect((pulled.body.jobs as { request_id: string }[]).map((j) => j.request_id)).toEqual([requestId]);
  });

  it("a heartbeat with another runner's receipt extends nothing and reveals nothing", async () => {
    const { victim, intruder } = await twoTenants();
    const pulled = await runner(victim, 'pull', { max: 1, wait_ms: 0 });
    const receipt = (pulled.body.jobs as { receipt: string }[])[0]!.receipt;
    // Guessed receipts and the real one look the same to the intruder: all lost.
    const sent = [...guesses(), receipt];
    const hb = await runner(intruder, 'heartbeat', { receipts: sent, in_flight: 0 });
    expect(hb.status).toBe(200);
    expect(new Set(hb.body.lost as string[])).toEqual(new Set(sent));
    // The victim still holds its delivery.
    const own = await runner(victim, 'heartbeat', { receipts: [receipt], in_flight: 1 });
    expect(own.body.lost).toEqual([]);
  });

  it("a result naming another runner's receipt does not settle the victim's delivery", async () => {
    const { victim, intruder, requestId } = await twoTenants();
    const pulled = await runner(victim, 'pull', { max: 1, wait_ms: 0 });
    const receipt = (pulled.body.jobs as { receipt: string }[])[0]!.receipt;
    const now = new Date().toISOString();
    const forged = await runner(intruder, 'results', {
      receipt,
      request_id: requestId,
      outcome: 'response',
      status_code: 200,
      body: { forged: true },
      started_at: now,
      finished_at: now,
    });
    expect(forged.body.recorded).toBe(false);
    expect((await runner(victim, 'heartbeat', { receipts: [receipt], in_flight: 1 })).body.lost).toEqual([]);
    // Control still knows the victim holds it: when the victim's process dies, the request goes
    // back on the queue at once rather than waiting out its lease.
    compute.exit(victim.runnerId);
    await expect.poll(async () => (await store.requests.get(requestId))?.status).toBe('IN_QUEUE');
    expect((await store.requests.get(requestId))?.result_body).toBeNull();
  });

  it('receipts of the embedded queue do not follow a sequence', async () => {
    const { victim } = await twoTenants();
    const pulled = await runner(victim, 'pull', { max: 1, wait_ms: 0 });
    const receipt = (pulled.body.jobs as { receipt: string }[])[0]!.receipt;
    expect(receipt).toMatch(/^\d+\.[0-9a-f-]{36}$/);
  });

  it("an ended runner's token takes no more work on any route that hands or reports work", async () => {
    const { intruder } = await twoTenants();
    expect((await runner(intruder, 'state', { state: 'TERMINATED' })).status).toBe(204);
    const calls: [string, Record<string, unknown>][] = [
      ['pull', { max: 1, wait_ms: 0 }],
      ['claim', { receipt: 'r', request_id: 'x' }],
      ['logs', { logs: [] }],
      ['state', { state: 'IDLE' }],
    ];
    for (const [route, payload] of calls) {
      const res = await runner(intruder, route, payload);
      expect([route, res.status, res.body.code]).toEqual([route, 410, 'GANTRY_ERR_RUNNER_ENDED']);
    }
  });

  it('a NUL in the runner id is refused as a bad request, not a server error', async () => {
    const res = await svc.app.inject({
      method: 'POST',
      url: '/internal/v1/runners/%00/pull',
      payload: { max: 1, wait_ms: 0 },
    });
    expect(res.statusCode).toBe(400);
    const res2 = await svc.app.inject({
      method: 'POST',
      url: '/internal/v1/runners/%00/pull',
      headers: { authorization: 'Bearer x' },
      payload: { max: 1, wait_ms: 0 },
    });
    expect(res2.statusCode).toBe(400);
  });
});
