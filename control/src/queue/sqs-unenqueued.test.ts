/**
 * SQS submit atomicity: a request and its SQS message are two writes, so a crash between them
 * leaves a request nothing would run. Such a request (no confirmed send) is failed once the bound
 * passes, with a message naming the cause; sent requests are untouched. Control on PGlite, the SQS
 * driver on fauxqs.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ControlService } from '../app.ts';
import { UNENQUEUED_MESSAGE } from '../store/requests-store.ts';
import type { Store } from '../store/store.ts';
import { type ControlFixture, startControl } from '../testing/control-fixture.ts';
import { type LocalSqs, startLocalSqs } from '../testing/fauxqs.ts';
import { SqsQueue } from './sqs-queue.ts';

let sqs: LocalSqs;
let fx: ControlFixture;
let svc: ControlService;
let store: Store;
let now = 1_000_000_000;

beforeAll(async () => {
  sqs = await startLocalSqs();
  fx = await startControl({
    queue: new SqsQueue({ client: sqs.client(), prefix: 'gantry-unenqueued' }),
    clock: () => now,
  });
  ({ svc, store } = fx);
  await fx.addApp('app');
}, 120_000);
afterAll(async () => {
  await fx?.close();
  await sqs?.stop();
});

describe('a request a crash left without its SQS message', () => {
  it('is failed once the bound passes, naming the cause; a sent request is left to run', async () => {
    const sent = await svc.app.inject({ method: 'POST', url: '/queue/t/app', payload: { n: 1 } });
    expect(sent.statusCode).toBe(200);
    const sentId = sent.json().request_id as string;
    // What a crash between the two writes leaves: the row, and no message.
    const env = (await store.apps.getWithEnvironment('t', 'app', 'production'))!.env!;
    const phantom = await store.requests.create({
      environment_id: env.id,
      path: '',
      input: { n: 2 },
      priority: 'normal',
      no_retry: false,
      start_deadline: null,
    });
    expect((await store.requests.counts(env.id)).queued).toBe(2);

    // Not yet: the send may still be on its way.
    expect(await svc.requests.reapUnenqueued(5 * 60_000)).toBe(0);
    now += 5 * 60_000 + 1;
    expect(await svc.requests.reapUnenqueued(5 * 60_000)).toBe(1);

    const failed = await store.requests.get(phantom.id);
    expect(failed).toMatchObject({ status: 'COMPLETED', error: UNENQUEUED_MESSAGE, result_status: 503 });
    expect((await store.requests.get(sentId))?.status).toBe('IN_QUEUE');
    expect((await store.requests.counts(env.id)).queued).toBe(1);
    const status = await svc.app.inject({ method: 'GET', url: `/queue/t/app/requests/${phantom.id}/status` });
    expect(status.json().status).toBe('COMPLETED');
  }, 120_000);
});
