/**
 * Tenant isolation on the runner protocol: a runner of one app holds a valid token, and uses it
 * against another app's work. It must not extend, settle or delete what it was not handed, nor learn
 * which receipts exist; a runner that has ended takes no more work. Real control (PGlite, the
 * embedded queue, the HTTP routes); runners are played by the test through a fake compute driver.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { ControlService } from '../app.ts';
import type { RunnerSpec } from '../compute/compute-driver.ts';
import type { Store } from '../store/store.ts';
import { type ControlFixture, type RecordingCompute, startControl } from '../testing/control-fixture.ts';

let fx: ControlFixture;
let svc: ControlService;
let store: Store;
let compute: RecordingCompute;

beforeEach(async () => {
  fx = await startControl();
  ({ svc, store, compute } = fx);
});
afterEach(async () => {
  await fx.close();
});

const runner = (s: RunnerSpec, route: string, payload: Record<string, unknown>) =>
  fx.asRunner(s, route, payload);

/** Two apps, each with a runner that is ready (the first submit to each starts one). */
async function twoTenants(): Promise<{ victim: RunnerSpec; intruder: RunnerSpec; requestId: string }> {
  for (const name of ['victim', 'intruder']) await fx.addApp(name);
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
