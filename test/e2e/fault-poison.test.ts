/**
 * Fault 5: a poison message (the app always answers 503). It runs out of its ten attempts, is
 * dead-lettered and completes with an error; every other request keeps flowing meanwhile.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestControl, type TestControl } from '../support/control.ts';
import { openQueue, type QueueKind, type QueueUnderTest } from '../support/queues.ts';
import { completed, FAULTY_APP, requestRows, result, submit } from '../support/requests.ts';

describe.each<QueueKind>(['embedded', 'sqs'])('a poison message (%s queue)', (kind) => {
  let queue: QueueUnderTest;
  let control: TestControl;

  beforeAll(async () => {
    queue = await openQueue(kind);
    control = await startTestControl({ env: queue.env });
    await control.deploy({
      name: 'poison',
      command: FAULTY_APP,
      settings: { max_multiplexing: 4 },
      scaling: { keep_alive: 30 },
    });
  });

  afterAll(async () => {
    await control?.close();
    await queue?.close();
  });

  it('is dead-lettered after ten attempts; the caller gets an error; others complete', async () => {
    const poison = await submit(control.url, 'poison', { poison: true });
    const others = await Promise.all(
      Array.from({ length: 8 }, (_, i) => submit(control.url, 'poison', { name: `ok${i}` })),
    );
    for (const id of others) {
      await completed(() => control.url, 'poison', id);
      expect((await result(control.url, 'poison', id)).status).toBe(200);
    }
    const s = await completed(() => control.url, 'poison', poison, 60_000);
    expect(s.error_type).toBe('runner_server_error');
    expect((await result(control.url, 'poison', poison)).status).toBe(503);
    const row = (await requestRows(control.admin, 'poison')).find((r) => r.request_id === poison)!;
    expect(row.attempts).toBe(10);
    expect(row.dead_lettered).toBe(true);

    const dl = (await (
      await control.admin('/v1/apps/test/poison/environments/production/dead-letters')
    ).json()) as {
      dead_letter_queue_depth: number;
      requests: { request_id: string }[];
    };
    expect(dl.requests.map((r) => r.request_id)).toEqual([poison]);
    expect(dl.dead_letter_queue_depth).toBe(1);

    // A payload larger than an SQS message may be (256 KiB) goes through: messages carry only ids.
    const big = 'x'.repeat(300 * 1024);
    const large = await submit(control.url, 'poison', { name: big });
    await completed(() => control.url, 'poison', large);
    const r = await result(control.url, 'poison', large);
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject({ message: `Hello, ${big}!` });

    // The queue still flows after the poison is gone.
    const after = await submit(control.url, 'poison', { name: 'after' });
    await completed(() => control.url, 'poison', after);
    expect((await result(control.url, 'poison', after)).status).toBe(200);
  });
});
