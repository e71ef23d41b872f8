/**
 * The official fal JS client, configured only with Gantry's proxy URL, against a real control
 * service on the embedded defaults with examples/hello deployed: every way the client calls an
 * endpoint, and the lifecycle a user sees (cold start, queueing, cancel, scale to zero).
 */
import { createFalClient, type FalClient, type QueueStatus } from '@fal-ai/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually, startTestControl, type TestControl } from '../support/control.ts';

interface Hello {
  message: string;
}

let control: TestControl;
let fal: FalClient;

interface RunnerRow {
  id: string;
  state: string;
  history: { state: string }[];
}
const runners = async (app: string): Promise<RunnerRow[]> => {
  const res = await control.admin(`/v1/apps/test/${app}/environments/production/runners`);
  return ((await res.json()) as { runners: RunnerRow[] }).runners;
};
const live = (rs: RunnerRow[]) => rs.filter((r) => !['TERMINATED', 'CRASH_BACKOFF'].includes(r.state));

beforeAll(async () => {
  control = await startTestControl();
  // keep_alive 1 s so scale-to-zero is observable; one runner so queueing is deterministic.
  await control.deploy({
    name: 'hello',
    settings: { max_multiplexing: 1 },
    scaling: { keep_alive: 1, max_concurrency: 1 },
  });
  fal = createFalClient({ proxyUrl: { url: `${control.url}/fal/proxy`, when: 'always' } });
});

afterAll(async () => {
  await control?.close();
});

describe('fal client through /fal/proxy', () => {
  it('subscribe: cold start, IN_QUEUE → IN_PROGRESS with logs → COMPLETED with metrics', async () => {
    const updates: QueueStatus[] = [];
    const result = await fal.subscribe('test/hello', {
      input: { name: 'Ada', delay_ms: 300 },
      logs: true,
      pollInterval: 50,
      onQueueUpdate: (u) => updates.push(u),
    });
    expect(result.data as Hello).toEqual({ message: 'Hello, Ada!' });
    expect(result.requestId).toMatch(/^[0-9a-f-]{36}$/);

    const statuses = updates.map((u) => u.status);
    expect(statuses[0]).toBe('IN_QUEUE');
    expect(statuses).toContain('IN_PROGRESS');
    expect(statuses.at(-1)).toBe('COMPLETED');
    const queued = updates.find((u) => u.status === 'IN_QUEUE');
    expect(queued && 'queue_position' in queued ? queued.queue_position : undefined).toBe(0);
    const done = updates.at(-1)!;
    const doneLogs = done.status === 'COMPLETED' ? done.logs.map((l) => l.message) : [];
    expect(doneLogs.some((m) => m.startsWith('greeting Ada'))).toBe(true);
    expect(done.status === 'COMPLETED' && done.metrics?.inference_time).toBeGreaterThan(0.25);

    // The cold start went through every runner state up to serving.
    const [runner] = await runners('hello');
    const states = runner!.history.map((h) => h.state);
    expect(states.slice(0, 4)).toEqual(['PENDING', 'SETUP', 'IDLE', 'RUNNING']);
  });

  it('queue.submit / status / result', async () => {
    const { request_id } = await fal.queue.submit('test/hello', { input: { name: 'Grace' } });
    const final = await eventually(async () => {
      const s = await fal.queue.status('test/hello', { requestId: request_id, logs: true });
      return s.status === 'COMPLETED' ? s : undefined;
    });
    expect(final.status).toBe('COMPLETED');
    const result = await fal.queue.result('test/hello', { requestId: request_id });
    expect(result.data as Hello).toEqual({ message: 'Hello, Grace!' });
    expect(result.requestId).toBe(request_id);
  });

  it('streaming status delivers each change and each log line once', async () => {
    const updates: QueueStatus[] = [];
    const result = await fal.subscribe('test/hello', {
      input: { name: 'Linus', delay_ms: 200 },
      logs: true,
      mode: 'streaming',
      onQueueUpdate: (u) => updates.push(u),
    });
    expect(result.data as Hello).toEqual({ message: 'Hello, Linus!' });
    expect(updates.at(-1)?.status).toBe('COMPLETED');
    const last = updates.at(-1)!;
    const messages = 'logs' in last ? last.logs.map((l) => l.message) : [];
    // The client accumulates logs across events: each line must arrive exactly once.
    expect(messages.filter((m) => m.startsWith('greeting Linus'))).toHaveLength(1);
  });

  it('fal.run answers with the result directly', async () => {
    const result = await fal.run('test/hello', { input: { name: 'Barbara' } });
    expect(result.data as Hello).toEqual({ message: 'Hello, Barbara!' });
  });

  it('cancel: a queued request is never run; a completed one is ALREADY_COMPLETED; unknown is 404', async () => {
    // One runner, one request at a time: the first keeps the runner busy, the second waits.
    const busy = await fal.queue.submit('test/hello', { input: { name: 'Busy', delay_ms: 1500 } });
    const waiting = await fal.queue.submit('test/hello', { input: { name: 'Never' } });
    const position = await fal.queue.status('test/hello', { requestId: waiting.request_id });
    expect(position.status).toBe('IN_QUEUE');

    await fal.queue.cancel('test/hello', { requestId: waiting.request_id });
    const raw = await fetch(`${control.url}/queue/test/hello/requests/${waiting.request_id}/cancel`, {
      method: 'PUT',
    });
    expect(raw.status).toBe(400);
    expect(await raw.json()).toMatchObject({ status: 'ALREADY_COMPLETED' });

    const cancelled = await fal.queue.status('test/hello', { requestId: waiting.request_id });
    expect(cancelled).toMatchObject({ status: 'COMPLETED', error_type: 'client_cancelled' });
    await expect(fal.queue.result('test/hello', { requestId: waiting.request_id })).rejects.toMatchObject({
      status: 400,
      body: { code: 'GANTRY_ERR_REQUEST_CANCELLED' },
    });

    await eventually(async () => {
      const s = await fal.queue.status('test/hello', { requestId: busy.request_id });
      return s.status === 'COMPLETED' ? s : undefined;
    });
    const requests = (await (
      await control.admin('/v1/apps/test/hello/environments/production/requests')
    ).json()) as {
      requests: { request_id: string; attempts: number }[];
    };
    expect(requests.requests.find((r) => r.request_id === waiting.request_id)?.attempts).toBe(0);

    const unknown = await fetch(
      `${control.url}/queue/test/hello/requests/00000000-0000-0000-0000-000000000000/cancel`,
      { method: 'PUT' },
    );
    expect(unknown.status).toBe(404);
    expect(await unknown.json()).toMatchObject({ code: 'GANTRY_ERR_REQUEST_NOT_FOUND' });
  });

  it('a 202 CANCELLATION_REQUESTED answers a cancel of a queued request', async () => {
    const busy = await fal.queue.submit('test/hello', { input: { name: 'Busy', delay_ms: 800 } });
    const waiting = await fal.queue.submit('test/hello', { input: { name: 'Later' } });
    const res = await fetch(`${control.url}/queue/test/hello/requests/${waiting.request_id}/cancel`, {
      method: 'PUT',
    });
    expect(res.status).toBe(202);
    expect(await res.json()).toEqual({ status: 'CANCELLATION_REQUESTED' });
    expect(res.headers.get('x-fal-request-id')).toBe(waiting.request_id);
    await eventually(async () => {
      const s = await fal.queue.status('test/hello', { requestId: busy.request_id });
      return s.status === 'COMPLETED' ? s : undefined;
    });
  });

  it('scales to zero after keep_alive, and the next request cold-starts a new runner', async () => {
    await eventually(
      async () => (live(await runners('hello')).length === 0 ? true : undefined),
      30_000,
      'scale to zero',
    );
    const before = new Set((await runners('hello')).map((r) => r.id));
    const result = await fal.subscribe('test/hello', { input: { name: 'Again' }, pollInterval: 50 });
    expect(result.data as Hello).toEqual({ message: 'Hello, Again!' });
    const after = await runners('hello');
    const fresh = after.filter((r) => !before.has(r.id));
    expect(fresh).toHaveLength(1);
    expect(fresh[0]!.history.map((h) => h.state).slice(0, 3)).toEqual(['PENDING', 'SETUP', 'IDLE']);
  });
});
