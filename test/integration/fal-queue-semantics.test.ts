/**
 * fal's queue semantics that need no working app: fal_max_queue_length, queue_position, priority
 * and the start deadline, against an environment whose runners cannot start (so requests wait).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestControl, type TestControl } from '../support/control.ts';
import { completed, FAULTY_APP, result, submit } from '../support/requests.ts';

let control: TestControl;

beforeAll(async () => {
  // A long crash backoff: the app never becomes ready, so everything stays queued.
  control = await startTestControl({ backoffStepMs: 60_000 });
  await control.deploy({ name: 'stuck', command: [...FAULTY_APP, '--crash-setup'] });
});

afterAll(async () => {
  await control?.close();
});

const status = async (id: string) =>
  (await (await fetch(`${control.url}/queue/test/stuck/requests/${id}/status`)).json()) as {
    status: string;
    queue_position?: number;
  };

describe('queue semantics', () => {
  it('queue_position counts normal priority ahead of low; fal_max_queue_length refuses with 429', async () => {
    const low = await submit(control.url, 'stuck', {}, { 'x-fal-queue-priority': 'low' });
    const a = await submit(control.url, 'stuck', {});
    const b = await submit(control.url, 'stuck', {});
    expect((await status(a)).queue_position).toBe(0);
    expect((await status(b)).queue_position).toBe(1);
    expect((await status(low)).queue_position).toBe(2);

    const full = await fetch(`${control.url}/queue/test/stuck?fal_max_queue_length=3`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{}',
    });
    expect(full.status).toBe(429);
    expect(await full.json()).toMatchObject({
      code: 'GANTRY_ERR_QUEUE_FULL',
      queue_length: 3,
      max_queue_length: 3,
    });
    const room = await fetch(`${control.url}/queue/test/stuck?fal_max_queue_length=10`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{}',
    });
    expect(room.status).toBe(200);

    // Cancelling the first moves the others up: positions stay truthful.
    await fetch(`${control.url}/queue/test/stuck/requests/${a}/cancel`, { method: 'PUT' });
    expect((await status(b)).queue_position).toBe(0);
    expect((await status(low)).queue_position).toBe(2);
  });

  it('a request that cannot start before x-fal-request-timeout ends 504 (user) on its own', async () => {
    const id = await submit(control.url, 'stuck', {}, { 'x-fal-request-timeout': '1' });
    const s = await completed(() => control.url, 'stuck', id, 10_000);
    expect(s.error_type).toBe('request_timeout');
    const r = await result(control.url, 'stuck', id);
    expect(r.status).toBe(504);
    expect(r.headers.get('x-fal-request-timeout-type')).toBe('user');
    expect(r.headers.get('x-fal-error-type')).toBe('request_timeout');
  });

  it('refuses a malformed fal_max_queue_length', async () => {
    const res = await fetch(`${control.url}/queue/test/stuck?fal_max_queue_length=-1`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{}',
    });
    expect(res.status).toBe(400);
    expect(await res.json()).toMatchObject({ code: 'GANTRY_ERR_VALIDATION' });
  });
});
