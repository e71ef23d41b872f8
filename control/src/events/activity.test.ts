import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type InjectedControl, startInjectedControl } from '../../../test/support/injected-control.ts';
import type { Environment, RequestRecord } from '../domain.ts';

let c: InjectedControl;
let env: Environment;

beforeAll(async () => {
  c = await startInjectedControl();
  const app = await c.store.apps.create('acme', 'sd', 'private');
  env = (await c.store.apps.getEnvironment(app.id, 'production'))!;
}, 120_000);
afterAll(async () => {
  await c.close();
});

const metric = async (name: string) => {
  const text = await c.service.metrics.text();
  return text.split('\n').find((l) => l.startsWith(`${name}{`) && l.includes('application="acme/sd"'));
};

describe('activity', () => {
  it('records a dead-lettered request as an event and counts it', async () => {
    const rec = {
      id: 'req-1',
      environment_id: env.id,
      attempts: 10,
      runner_id: 'runner-1',
      error_type: 'runner_server_error',
      error: 'the app answered 503',
      dead_lettered: true,
      created_at: 1_000,
      completed_at: 4_000,
    } as RequestRecord;
    c.service.activity.completed(rec);
    c.service.activity.crashLoop(env.id, 3, Date.parse('2026-12-01T12:00:00Z'));
    await c.service.activity.settle();
    const events = await c.store.events.list(env.id, undefined, 10);
    expect(events.map((e) => [e.type, e.message])).toEqual([
      ['request.dead_lettered', 'request req-1 ran out of attempts (10): runner_server_error'],
      ['runner.crash_loop', '3 crashes in a row: no new runner before 2026-12-01T12:00:00.000Z'],
    ]);
    expect(await metric('gantry_requests_dead_lettered_total')).toMatch(/ 1$/);
    expect(await metric('fal_app_request_latency_count')).toMatch(/ 1$/);
  });
});
