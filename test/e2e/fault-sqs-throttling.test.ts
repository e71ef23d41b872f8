/**
 * Fault 4: SQS answers throttling and server errors for a while. Control and the runner back off
 * (bounded, with jitter) and recover: requests accepted during the outage complete, a submit the
 * queue could not take is refused with a clear 503 (never a 500), and the runner that lived
 * through it keeps serving.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually, startTestControl, type TestControl } from '../support/control.ts';
import { type FaultyProxy, startFaultyProxy } from '../support/faulty-proxy.ts';
import { openQueue, type QueueUnderTest } from '../support/queues.ts';
import { completed, FAULTY_APP, isLive, result, runnerRows } from '../support/requests.ts';

let queue: QueueUnderTest;
let proxy: FaultyProxy;
let control: TestControl;

beforeAll(async () => {
  queue = await openQueue('sqs', {
    endpoint: async (sqs) => {
      proxy = await startFaultyProxy(sqs.endpoint);
      return proxy.url;
    },
  });
  control = await startTestControl({ env: { ...queue.env, GANTRY_LEASE_SECONDS: '5' } });
  await control.deploy({
    name: 'throttled',
    command: FAULTY_APP,
    settings: { max_multiplexing: 4 },
    scaling: { min_concurrency: 1, keep_alive: 60 },
  });
});

afterAll(async () => {
  await control?.close();
  await proxy?.close();
  await queue?.close();
});

const post = (input: unknown) =>
  fetch(`${control.url}/queue/test/throttled`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(input),
  });

describe('SQS throttling and server errors', () => {
  it('control and the runner back off and recover; nothing accepted is lost', async () => {
    const warm = await post({ name: 'warm' });
    const warmId = ((await warm.json()) as { request_id: string }).request_id;
    await completed(() => control.url, 'throttled', warmId);
    const [runner] = (await runnerRows(control.admin, 'throttled')).filter(isLive);

    proxy.failing = true;
    const accepted: string[] = [];
    const refused: unknown[] = [];
    const outageEnds = Date.now() + 3_000;
    for (let i = 0; i < 20 && Date.now() < outageEnds; i++) {
      const res = await post({ name: `during-${i}` });
      const body = (await res.json()) as { request_id?: string; code?: string };
      if (res.status === 200) accepted.push(body.request_id!);
      else {
        expect(res.status).toBe(503);
        expect(body.code).toBe('GANTRY_ERR_QUEUE_UNAVAILABLE');
        refused.push(body);
      }
      if (i === 1) setTimeout(() => (proxy.failing = false), Math.max(0, outageEnds - Date.now()));
    }
    await eventually(async () => (proxy.failing ? undefined : true), 10_000, 'the outage to end');
    expect(proxy.served.throttled).toBeGreaterThan(0);
    expect(proxy.served.serverErrors).toBeGreaterThan(0);

    for (const id of accepted) {
      await completed(() => control.url, 'throttled', id, 60_000);
      expect((await result(control.url, 'throttled', id)).status).toBe(200);
    }
    const after = (await (await post({ name: 'after' })).json()) as { request_id: string };
    await completed(() => control.url, 'throttled', after.request_id, 30_000);
    expect((await result(control.url, 'throttled', after.request_id)).status).toBe(200);
    // The same runner rode out the outage rather than crashing and being replaced.
    const live = (await runnerRows(control.admin, 'throttled')).filter(isLive);
    expect(live.map((r) => r.id)).toContain(runner!.id);
  });
});
