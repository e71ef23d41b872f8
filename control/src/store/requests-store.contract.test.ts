import { describe, expect, it } from 'vitest';
import { mergeRuntimeSettings } from '../../../contract/src/scaling-settings.ts';
import { databaseTargets, storeUnderTest } from '../testing/databases.ts';
import { appWithRevision, newRequest } from '../testing/store-fixtures.ts';

describe.each(databaseTargets())('requests store contract on $name', (target) => {
  let now = 1_000_000;
  const t = storeUnderTest(target, () => now);

  it('completes a request exactly once', async () => {
    const { env } = await appWithRevision(t.store);
    const req = await t.store.requests.create({
      environment_id: env.id,
      path: '',
      input: { name: 'Ada' },
      priority: 'normal',
      no_retry: false,
      start_deadline: null,
    });
    expect(req.status).toBe('IN_QUEUE');
    expect(req.input).toEqual({ name: 'Ada' });
    const started = await t.store.requests.startAttempt(req.id, 'runner-1');
    expect(started).toMatchObject({ status: 'IN_PROGRESS', attempts: 1, runner_id: 'runner-1' });
    const c = {
      result_status: 200,
      result_body: { message: 'hi' },
      result_content_type: 'application/json',
      error: null,
      error_type: null,
      inference_ms: 12,
    };
    const first = await t.store.requests.complete(req.id, c);
    const second = await t.store.requests.complete(req.id, { ...c, result_body: { message: 'late' } });
    expect(first?.result_body).toEqual({ message: 'hi' });
    expect(second).toBeUndefined();
    expect((await t.store.requests.get(req.id))?.result_body).toEqual({ message: 'hi' });
    expect(await t.store.requests.startAttempt(req.id, 'runner-2')).toBeUndefined();
  });

  it('a held attempt refuses another delivery until its holder stops extending the hold', async () => {
    const { env } = await appWithRevision(t.store);
    const req = await t.store.requests.create({
      environment_id: env.id,
      path: '',
      input: {},
      priority: 'normal',
      no_retry: false,
      start_deadline: null,
    });
    const hold = (receipt: string) => ({ receipt, ms: 1_000 });
    expect(await t.store.requests.startAttempt(req.id, 'r1', env.id, hold('d1'))).toMatchObject({
      attempts: 1,
      runner_id: 'r1',
    });
    // A second delivery while held: nothing starts, for any runner.
    expect(await t.store.requests.startAttempt(req.id, 'r2', env.id, hold('d2'))).toBeUndefined();
    expect(await t.store.requests.startAttempt(req.id, 'r1', env.id, hold('d2'))).toBeUndefined();
    // The holder's heartbeat pushes the hold on; another runner's, or another receipt, does not.
    now += 900;
    await t.store.requests.extendHolds('r1', ['d1'], 1_000);
    await t.store.requests.extendHolds('r2', ['d1'], 60_000);
    await t.store.requests.extendHolds('r1', ['d9'], 60_000);
    now += 900;
    expect(await t.store.requests.startAttempt(req.id, 'r2', env.id, hold('d2'))).toBeUndefined();
    // The holder went silent: the hold lapses and the delivery retries the request.
    now += 200;
    expect(await t.store.requests.startAttempt(req.id, 'r2', env.id, hold('d2'))).toMatchObject({
      attempts: 2,
      runner_id: 'r2',
    });
    // r1's late heartbeat no longer holds anything.
    await t.store.requests.extendHolds('r1', ['d1'], 60_000);
    now += 1_001;
    expect(await t.store.requests.startAttempt(req.id, 'r3', env.id, hold('d3'))).toMatchObject({
      attempts: 3,
    });
  });

  it('keeps input and result bytes exactly, and retention empties them (and the logs) once, when due', async () => {
    const { env } = await appWithRevision(t.store);
    const sent = Buffer.from('{"z":1,  "a":[2,1]}');
    const req = await t.store.requests.create({
      environment_id: env.id,
      path: '',
      input_raw: sent,
      input_content_type: 'application/json; charset=utf-8',
      priority: 'normal',
      no_retry: false,
      start_deadline: null,
    });
    await t.store.requests.startAttempt(req.id, 'runner-1');
    const png = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0, 255, 10, 13]);
    const done = await t.store.requests.complete(req.id, {
      result_status: 200,
      result_body: undefined,
      result_raw: png,
      result_content_type: 'image/png',
      error: null,
      error_type: null,
      inference_ms: 1,
    });
    expect(Buffer.from(done!.input_raw!).equals(sent)).toBe(true);
    expect(done!.input_content_type).toBe('application/json; charset=utf-8');
    expect(Buffer.from(done!.result_raw!).equals(png)).toBe(true);
    // No webhook reads it: the decoded body is not kept beside the bytes.
    expect(done!.result_body).toBeNull();
    await t.store.logs.append(
      [
        {
          request_id: req.id,
          message: 'x',
          level: 'INFO',
          source: 'user',
          timestamp: new Date(now).toISOString(),
        },
      ],
      env.id,
    );

    expect(await t.store.requests.expireRetained(60)).toBe(0);
    now += 61_000;
    expect(await t.store.requests.expireRetained(60)).toBe(1);
    expect(await t.store.requests.expireRetained(60)).toBe(0);
    const gone = await t.store.requests.get(req.id);
    expect(gone).toMatchObject({ input_raw: null, result_raw: null, result_body: null, expired_at: now });
    expect(await t.store.logs.forRequest(req.id)).toEqual([]);
  });

  it("keeps an environment's requests for its own retention setting, else control's", async () => {
    const { app, env } = await appWithRevision(t.store);
    await t.store.apps.createEnvironment(app.id, 'keep-long');
    const long = (await t.store.apps.getEnvironment(app.id, 'keep-long'))!;
    await t.store.apps.setScaling(long.id, mergeRuntimeSettings(long.scaling, { retention: 3600 }));
    const finished = async (envId: string) => {
      const r = await newRequest(t.store, envId);
      await t.store.requests.startAttempt(r.id, 'runner-1');
      await t.store.requests.complete(r.id, {
        result_status: 200,
        result_body: { ok: true },
        result_content_type: 'application/json',
        error: null,
        error_type: null,
        inference_ms: 1,
      });
      return r.id;
    };
    const short = await finished(env.id);
    const kept = await finished(long.id);
    now += 120_000;
    // Control's default (60 s) has passed; the long environment's hour has not.
    expect(await t.store.requests.expireRetained(60)).toBe(1);
    expect((await t.store.requests.get(short))?.expired_at).toBe(now);
    expect((await t.store.requests.get(kept))?.expired_at).toBeNull();
    now += 3600_000;
    expect(await t.store.requests.expireRetained(60)).toBe(1);
    expect((await t.store.requests.get(kept))?.expired_at).toBe(now);
  });

  it('cancels a queued request for good, flags an in-progress one, refuses a completed one', async () => {
    const { env } = await appWithRevision(t.store);
    const mk = () => newRequest(t.store, env.id);
    const queued = await mk();
    expect(await t.store.requests.cancel(queued.id)).toBe('IN_QUEUE');
    expect(await t.store.requests.get(queued.id)).toMatchObject({
      status: 'COMPLETED',
      error_type: 'client_cancelled',
    });
    expect(await t.store.requests.startAttempt(queued.id, 'r')).toBeUndefined();
    expect(await t.store.requests.cancel(queued.id)).toBe('COMPLETED');

    const running = await mk();
    await t.store.requests.startAttempt(running.id, 'r');
    expect(await t.store.requests.cancel(running.id)).toBe('IN_PROGRESS');
    expect(await t.store.requests.cancelRequested([running.id, queued.id])).toEqual([running.id]);
    expect(await t.store.requests.cancel('no-such-id')).toBeUndefined();
  });

  it('reports queue positions with normal priority ahead of low', async () => {
    const { env } = await appWithRevision(t.store);
    const mk = (priority: 'normal' | 'low') => {
      now += 1;
      return t.store.requests.create({
        environment_id: env.id,
        path: '',
        input: {},
        priority,
        no_retry: false,
        start_deadline: null,
      });
    };
    const low = await mk('low');
    const a = await mk('normal');
    const b = await mk('normal');
    expect(await t.store.requests.queuePosition(a)).toBe(0);
    expect(await t.store.requests.queuePosition(b)).toBe(1);
    expect(await t.store.requests.queuePosition(low)).toBe(2);
    await t.store.requests.startAttempt(a.id, 'r');
    expect(await t.store.requests.queuePosition(b)).toBe(0);
    expect(await t.store.requests.counts(env.id)).toEqual({
      queued: 2,
      inProgress: 1,
      oldestQueuedAt: low.created_at,
      byPriority: { normal: { queued: 1, inFlight: 1 }, low: { queued: 1, inFlight: 0 } },
    });
  });

  it('keeps request logs in order and drops lines of unknown requests', async () => {
    const { env } = await appWithRevision(t.store);
    const req = await newRequest(t.store, env.id);
    const line = (message: string, request_id = req.id) => ({
      request_id,
      message,
      level: 'STDOUT',
      source: 'user',
      timestamp: new Date(now).toISOString(),
    });
    await t.store.logs.append([line('one'), line('two'), line('ghost', 'nope')]);
    const logs = await t.store.logs.forRequest(req.id);
    expect(logs.map((l) => l.message)).toEqual(['one', 'two']);
    await t.store.logs.append([line('three')]);
    expect((await t.store.logs.forRequest(req.id, logs[1]!.seq)).map((l) => l.message)).toEqual(['three']);
  });

  it("a runner never starts or logs for another environment's request", async () => {
    const { env } = await appWithRevision(t.store);
    const other = await t.store.apps.ensureEnvironment(env.app_id, 'staging');
    const req = await newRequest(t.store, env.id);
    expect(await t.store.requests.startAttempt(req.id, 'intruder', other.id)).toBeUndefined();
    expect((await t.store.requests.get(req.id))?.status).toBe('IN_QUEUE');
    const line = { request_id: req.id, message: 'x', level: 'STDOUT', source: 'user', timestamp: 't' };
    await t.store.logs.append([line], other.id);
    expect(await t.store.logs.forRequest(req.id)).toEqual([]);
    await t.store.logs.append([{ ...line, message: 'nul \u0000 inside' }], env.id);
    expect((await t.store.logs.forRequest(req.id)).map((l) => l.message)).toEqual(['nul \uFFFD inside']);
    expect(await t.store.requests.startAttempt(req.id, 'runner', env.id)).toMatchObject({
      status: 'IN_PROGRESS',
    });
  });

  it('flushing a queue completes its requests as cancelled and queues their webhooks once', async () => {
    const { env } = await appWithRevision(t.store);
    const hooked = await t.store.requests.create({
      environment_id: env.id,
      path: '',
      input: {},
      priority: 'normal',
      no_retry: false,
      start_deadline: null,
      webhook_url: 'https://hooks.example.com/done',
    });
    const plain = await newRequest(t.store, env.id);
    const flushed = await t.store.requests.cancelQueued(env.id);
    expect(flushed.map((r) => r.id).sort()).toEqual([hooked.id, plain.id].sort());
    expect(flushed.every((r) => r.status === 'COMPLETED' && r.error_type === 'client_cancelled')).toBe(true);
    expect(await t.store.requests.cancelQueued(env.id)).toEqual([]);
    const rows = await t.db.query<{ request_id: string }>('SELECT request_id FROM webhook_deliveries');
    expect(rows.rows.map((r) => r.request_id)).toEqual([hooked.id]);
  });

  it('a start deadline covers retries: past it, a requeued request never starts again and the reaper ends it', async () => {
    const { env } = await appWithRevision(t.store);
    const req = await t.store.requests.create({
      environment_id: env.id,
      path: '',
      input: {},
      priority: 'normal',
      no_retry: false,
      start_deadline: now + 1000,
    });
    expect(await t.store.requests.startAttempt(req.id, 'r1', env.id)).toMatchObject({ attempts: 1 });
    await t.store.requests.requeue(req.id, 'r1'); // the app answered 503: back in the queue
    now += 2000;
    expect(await t.store.requests.startAttempt(req.id, 'r2', env.id)).toBeUndefined();
    const expired = await t.store.requests.expireStartDeadlines();
    expect(expired.map((r) => r.id)).toEqual([req.id]);
    expect(expired[0]).toMatchObject({
      status: 'COMPLETED',
      result_status: 504,
      error_type: 'request_timeout',
    });
  });

  it('finds the requests a runner serves whose caller asked to cancel', async () => {
    const { env } = await appWithRevision(t.store);
    const mk = () => newRequest(t.store, env.id);
    const a = await mk();
    const b = await mk();
    await t.store.requests.startAttempt(a.id, 'r1', env.id);
    await t.store.requests.startAttempt(b.id, 'r1', env.id);
    expect(await t.store.requests.cancelRequestedFor('r1')).toEqual([]);
    expect(await t.store.requests.cancel(a.id)).toBe('IN_PROGRESS');
    expect(await t.store.requests.cancelRequestedFor('r1')).toEqual([a.id]);
    expect(await t.store.requests.cancelRequestedFor('r2')).toEqual([]);
  });

  it('flushes only queued requests, and tells a failed revision from one that ran', async () => {
    const { env, rev } = await appWithRevision(t.store);
    const mk = () => newRequest(t.store, env.id);
    const queued = await mk();
    const running = await mk();
    await t.store.requests.startAttempt(running.id, 'r');
    expect((await t.store.requests.cancelQueued(env.id)).map((r) => r.id)).toEqual([queued.id]);
    expect(await t.store.requests.get(queued.id)).toMatchObject({
      status: 'COMPLETED',
      error_type: 'client_cancelled',
    });
    expect((await t.store.requests.get(running.id))?.status).toBe('IN_PROGRESS');

    expect((await t.store.revisions.health(env.id)).get(rev.id)).toBeUndefined();
    const crashed = await t.store.runners.create(env.id, rev.id, 'h');
    await t.store.runners.setState(crashed.id, 'CRASH_BACKOFF', { detail: 'setup failed: boom' });
    expect((await t.store.revisions.health(env.id)).get(rev.id)).toEqual({
      status: 'failed',
      failure: 'setup failed: boom',
    });
    const ok = await t.store.runners.create(env.id, rev.id, 'h');
    await t.store.runners.setState(ok.id, 'IDLE');
    expect((await t.store.revisions.health(env.id)).get(rev.id)).toEqual({ status: 'ok', failure: null });
  });

  it('knows recent cold start and request times once it has seen both', async () => {
    const { env, rev } = await appWithRevision(t.store);
    expect(await t.store.requests.recentTimings(env.id)).toBeNull();
    const runner = await t.store.runners.create(env.id, rev.id, 'h');
    await t.store.runners.setState(runner.id, 'IDLE');
    const req = await newRequest(t.store, env.id);
    await t.store.requests.complete(req.id, {
      result_status: 200,
      result_body: {},
      result_content_type: 'application/json',
      error: null,
      error_type: null,
      inference_ms: 1500,
    });
    expect(await t.store.requests.recentTimings(env.id)).toEqual({
      coldStartMs: expect.any(Number),
      serviceMs: 1500,
    });
  });
});
