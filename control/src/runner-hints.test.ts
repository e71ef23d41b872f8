/**
 * x-fal-runner-hint on the request path: a hinted request goes to the runner that last served the
 * hint while that runner is waiting for work, and to whoever asks otherwise.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SqlClient } from '../../sql/src/sql-client.ts';
import { StoreQueue } from './queue/store-queue.ts';
import { RequestService } from './request-service.ts';
import { Store } from './store/store.ts';
import { databaseTargets } from './testing/databases.ts';
import { appWithRevision } from './testing/store-fixtures.ts';

const [pglite] = databaseTargets();

describe('runner hints', () => {
  let db: SqlClient;
  let store: Store;
  let requests: RequestService;
  let env: Awaited<ReturnType<typeof appWithRevision>>['env'];
  let r1: { id: string; environment_id: string };
  let r2: { id: string; environment_id: string };

  beforeAll(async () => {
    db = await pglite!.open();
    store = new Store(db, Date.now);
    await store.migrate();
    const made = await appWithRevision(store);
    env = made.env;
    const queue = new StoreQueue(db);
    requests = new RequestService(store, queue, { leaseSeconds: 30 });
    for (const slot of [1, 2]) {
      const runner = await store.runners.create(env.id, made.rev.id, `token-${slot}`);
      await store.runners.setState(runner.id, 'IDLE', {});
      if (slot === 1) r1 = runner;
      else r2 = runner;
    }
  });
  afterAll(async () => {
    await store.close();
  });

  const submit = (hint?: string) =>
    requests.submit(env, {
      path: '',
      input: { bytes: Buffer.from('{}'), contentType: 'application/json' },
      runnerHint: hint ?? null,
      priority: 'normal',
      noRetry: false,
      startTimeoutSeconds: null,
    });
  const finish = (runnerId: string, receipt: string, requestId: string) =>
    requests.recordResult(
      { id: runnerId, environment_id: env.id },
      {
        receipt,
        request_id: requestId,
        outcome: 'response',
        status_code: 200,
        body_base64: Buffer.from('{}').toString('base64'),
        content_type: 'application/json',
        started_at: new Date().toISOString(),
        finished_at: new Date().toISOString(),
      },
    );

  it('hands a hinted request to the runner that served the hint while it waits, else to any runner', async () => {
    // r1 serves the first request of session "s1".
    const first = await submit('s1');
    const [job1] = (await requests.pull(r1, 1, 1000)).jobs;
    expect(job1?.request_id).toBe(first.id);
    await finish(r1.id, job1!.receipt, first.id);

    // r1 waits for work; r2 happens to receive the next "s1" request: it goes to r1.
    const r1Waiting = requests.pull(r1, 1, 5000);
    const second = await submit('s1');
    const r2Pull = await requests.pull(r2, 1, 200);
    expect(r2Pull.jobs).toEqual([]);
    const r1Got = await r1Waiting;
    expect(r1Got.jobs.map((j) => j.request_id)).toEqual([second.id]);
    await finish(r1.id, r1Got.jobs[0]!.receipt, second.id);

    // r1 is not waiting (busy or gone): r2 serves the hinted request rather than leave it queued.
    const third = await submit('s1');
    const fallback = await requests.pull(r2, 1, 1000);
    expect(fallback.jobs.map((j) => j.request_id)).toEqual([third.id]);
  });

  it('never hands work to a runner told to drain: whoever received the request serves it', async () => {
    const first = await submit('s2');
    const [job1] = (await requests.pull(r1, 1, 1000)).jobs;
    expect(job1?.request_id).toBe(first.id);
    await finish(r1.id, job1!.receipt, first.id);

    // r1, the hint's runner, waits for work and is then told to drain: its poll answers drain.
    const r1Waiting = requests.pull(r1, 1, 5000);
    requests.stopServing(r1.id);
    expect(await r1Waiting).toEqual({ jobs: [], drain: true });
    const second = await submit('s2');
    const served = await requests.pull(r2, 1, 1000);
    expect(served.jobs.map((j) => j.request_id)).toEqual([second.id]);
    expect(await requests.pull(r1, 1, 100)).toEqual({ jobs: [], drain: true });
  });
});
