/**
 * Automatic rollback through the real control service (PGlite, the embedded queue, the runner
 * protocol) with the recording compute driver of control/src/testing and the test's clock, so the watch window is exact.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { RunnerSpec } from '../compute/compute-driver.ts';
import { type ControlFixture, startControl } from '../testing/control-fixture.ts';
import { AUTO_ROLLBACK_BY, rollbackReason } from './auto-rollback.ts';

const BASE = '/v1/apps/t/app/environments/production';

const WATCH = { auto_rollback_error_rate: 0.5, auto_rollback_window: 60, auto_rollback_min_requests: 4 };

describe('rollbackReason', () => {
  it.each([
    ['off (rate 0)', { ...WATCH, auto_rollback_error_rate: 0 }, { total: 10, failed: 10 }, 1_000, false],
    ['too few requests yet', WATCH, { total: 3, failed: 3 }, 1_000, false],
    ['under the threshold', WATCH, { total: 10, failed: 4 }, 1_000, false],
    ['at the threshold', WATCH, { total: 10, failed: 5 }, 1_000, true],
    ['past the window', WATCH, { total: 10, failed: 10 }, 61_000, false],
  ])('%s', (_, settings, outcomes, liveFor, expected) => {
    expect(rollbackReason(settings, outcomes, liveFor) !== undefined).toBe(expected);
  });

  it('says how many failed, the rate and the threshold', () => {
    expect(rollbackReason(WATCH, { total: 8, failed: 6 }, 12_000)).toBe(
      'automatic rollback: 6 of 8 requests failed (75%, auto_rollback_error_rate 50%) in the first 12 s',
    );
  });
});

describe('automatic rollback', () => {
  let now = 1_000_000;
  let control: ControlFixture;
  let svc: ControlFixture['svc'];
  let store: ControlFixture['store'];
  let compute: ControlFixture['compute'];

  beforeEach(async () => {
    now = 1_000_000;
    control = await startControl({ clock: () => now });
    ({ svc, store, compute } = control);
    await call('POST', '/v1/apps', { owner: 't', name: 'app', auth_mode: 'public' });
  });
  afterEach(async () => {
    await control.close();
  });

  async function call(method: 'GET' | 'POST' | 'PATCH', url: string, body?: unknown) {
    const res = await svc.app.inject({
      method,
      url,
      headers: control.admin,
      ...(body === undefined ? {} : { payload: body as Record<string, unknown> }),
    });
    return { status: res.statusCode, body: res.json() as Record<string, unknown> };
  }
  const runner = (s: RunnerSpec) => ({ authorization: `Bearer ${s.token}` });
  async function ready(s: RunnerSpec) {
    const res = await svc.app.inject({
      method: 'POST',
      url: `/internal/v1/runners/${s.runnerId}/state`,
      headers: runner(s),
      payload: { state: 'IDLE' },
    });
    expect(res.statusCode).toBe(204);
    await svc.scaler.reconcile(s.environmentId);
  }
  /** Rolls out a new revision through the deploy gate; its candidate is the newest runner. */
  async function deployAndPass(): Promise<RunnerSpec> {
    const r = await call('POST', `${BASE}/revisions`, {
      command: ['app'],
      cwd: control.appDir,
      activate: true,
    });
    expect(r.status).toBe(201);
    const candidate = compute.started.at(-1)!;
    await ready(candidate);
    return candidate;
  }
  /** One request answered by the runner with this status. */
  async function answered(s: RunnerSpec, status: number) {
    const sub = await svc.app.inject({ method: 'POST', url: '/queue/t/app', payload: {} });
    expect(sub.statusCode).toBe(200);
    const pulled = await svc.app.inject({
      method: 'POST',
      url: `/internal/v1/runners/${s.runnerId}/pull`,
      headers: runner(s),
      payload: { max: 1, wait_ms: 0 },
    });
    const [job] = (pulled.json() as { jobs: { request_id: string; receipt: string }[] }).jobs;
    expect(job).toBeDefined();
    const at = new Date(now).toISOString();
    const res = await svc.app.inject({
      method: 'POST',
      url: `/internal/v1/runners/${s.runnerId}/results`,
      headers: runner(s),
      payload: {
        receipt: job!.receipt,
        request_id: job!.request_id,
        outcome: 'response',
        status_code: status,
        body: {},
        started_at: at,
        finished_at: at,
      },
    });
    expect(res.statusCode).toBe(200);
  }
  const env = async () =>
    (await store.apps.getEnvironment((await store.apps.get('t', 'app'))!.id, 'production'))!;
  const activeNumber = async () => {
    const e = await env();
    return e.active_revision_id ? (await store.revisions.get(e.active_revision_id))?.number : undefined;
  };

  it('off by default: a fresh revision failing every request stays', async () => {
    await deployAndPass();
    const second = await deployAndPass();
    for (let i = 0; i < 6; i++) await answered(second, 500);
    expect(await svc.autoRollback.check()).toEqual([]);
    expect(await activeNumber()).toBe(2);
  });

  it('reactivates the previous revision once a fresh one fails past the threshold, with a rollout, an audit entry and an event', async () => {
    expect((await call('PATCH', `${BASE}/scaling`, WATCH)).status).toBe(200);
    const first = await deployAndPass();
    await answered(first, 200);
    now += 10_000;
    const second = await deployAndPass();
    // Fewer requests than auto_rollback_min_requests: nothing yet, however many failed.
    await answered(second, 500);
    await answered(second, 200);
    await answered(second, 500);
    expect(await svc.autoRollback.check()).toEqual([]);
    expect(await activeNumber()).toBe(2);
    // The fourth: 2 of 4 failed, the 50% threshold.
    await answered(second, 200);
    const e = await env();
    expect(await svc.autoRollback.check()).toEqual([e.id]);
    expect(await activeNumber()).toBe(1);
    const rollouts = (await call('GET', `${BASE}/rollouts`)).body['rollouts'] as Record<string, unknown>[];
    expect(rollouts[0]).toMatchObject({
      from_revision: 2,
      to_revision: 1,
      strategy: 'recreate',
      state: 'completed',
      created_by: AUTO_ROLLBACK_BY,
      reason: expect.stringMatching(/^automatic rollback: 2 of 4 requests failed \(50%/),
    });
    const audit = await store.audit.list({ app: 't/app', limit: 10 });
    expect(audit[0]).toMatchObject({
      actor: AUTO_ROLLBACK_BY,
      action: 'rollout.auto_rollback',
      environment: 'production',
      detail: { from_revision: 2, to_revision: 1, total: 4, failed: 2 },
    });
    await svc.activity.settle();
    const events = await store.events.list(e.id, undefined, 100);
    expect(events.map((x) => x.type)).toContain('rollout.auto_rollback');
    // Its own rollback is never undone automatically.
    expect(await svc.autoRollback.check()).toEqual([]);
  });

  it('watches only the first auto_rollback_window seconds', async () => {
    await call('PATCH', `${BASE}/scaling`, WATCH);
    await deployAndPass();
    const second = await deployAndPass();
    now += 61_000;
    for (let i = 0; i < 6; i++) await answered(second, 500);
    expect(await svc.autoRollback.check()).toEqual([]);
    expect(await activeNumber()).toBe(2);
  });
});
