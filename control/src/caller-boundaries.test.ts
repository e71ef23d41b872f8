/**
 * What a caller cannot learn or hold through the fal API (PGlite, the embedded queue, the HTTP
 * routes): a Host header does not steer the URLs control hands out, a private app answers like a
 * missing one, and a caller that trickles its body is cut off.
 */

import { connect } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ControlService } from './app.ts';
import { IDEMPOTENCY_KEY_TTL_MS, IdempotencyStore } from './store/idempotency-store.ts';
import type { Store } from './store/store.ts';
import { type ControlFixture, startControl } from './testing/control-fixture.ts';

let fx: ControlFixture;
let svc: ControlService;
let store: Store;
let KEY = '';
let otherKey = '';

beforeAll(async () => {
  fx = await startControl({ settings: { GANTRY_REQUEST_BODY_TIMEOUT: '1' } });
  ({ svc, store, key: KEY } = fx);
  await fx.addApp('open', 'public');
  await fx.addApp('vault', 'private');
  const key = await svc.app.inject({
    method: 'POST',
    url: '/v1/keys',
    headers: fx.admin,
    payload: { scope: 'API', owner: 'someone-else', description: 'other owner' },
  });
  expect(key.statusCode).toBe(201);
  otherKey = key.json().key;
});
afterAll(async () => {
  await fx?.close();
});

describe('URLs handed to callers', () => {
  it('do not take their host from the Host header when no public URL is set', async () => {
    const res = await svc.app.inject({
      method: 'POST',
      url: '/queue/t/open',
      headers: { host: 'attacker.example', 'x-forwarded-host': 'attacker.example' },
      payload: {},
    });
    expect(res.statusCode).toBe(200);
    const body = res.json();
    for (const k of ['response_url', 'status_url', 'cancel_url']) {
      expect(body[k], k).not.toContain('attacker.example');
      expect(body[k], k).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/queue\/t\/open\/requests\//);
    }
  });
});

describe('private app names', () => {
  const answer = async (url: string, method: 'GET' | 'POST', key?: string) => {
    const res = await svc.app.inject({
      method,
      url,
      headers: key ? { authorization: `Key ${key}` } : {},
      ...(method === 'POST' ? { payload: {} } : {}),
    });
    return { status: res.statusCode, code: res.json().code, message: String(res.json().message) };
  };

  it('answer callers who may not call them exactly as a name that does not exist', async () => {
    for (const key of [undefined, 'not-a-key', () => otherKey] as const) {
      const k = typeof key === 'function' ? key() : key;
      for (const [method, tail] of [
        ['POST', ''],
        ['GET', '/requests/00000000-0000-0000-0000-000000000000/status'],
      ] as const) {
        const hidden = await answer(`/queue/t/vault${tail}`, method, k);
        const missing = await answer(`/queue/t/vaulx${tail}`, method, k);
        expect(hidden.status).toBe(404);
        expect(hidden.code).toBe('GANTRY_ERR_APP_NOT_FOUND');
        expect({ ...hidden, message: hidden.message.replace('t/vault', 't/X') }).toEqual({
          ...missing,
          message: missing.message.replace('t/vaulx', 't/X'),
        });
      }
    }
    // Its owner's key (an admin key here) still calls it.
    expect((await answer('/queue/t/vault', 'POST', KEY)).status).toBe(200);
  });
});

describe('slow request bodies', () => {
  it('are cut off with 408 once the body timeout passes', async () => {
    const address = await svc.app.listen({ port: 0, host: '127.0.0.1' });
    const { port } = new URL(address);
    const socket = connect(Number(port), '127.0.0.1');
    let received = '';
    socket.on('data', (d) => {
      received += d.toString();
    });
    const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
    socket.write(
      'POST /queue/t/open HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{"a":',
    );
    // Keep trickling (a byte every 200 ms): without a timeout on the whole body this never ends.
    const trickle = setInterval(() => {
      if (!socket.destroyed) socket.write(' ');
    }, 200);
    try {
      await closed;
    } finally {
      clearInterval(trickle);
    }
    expect(received).toMatch(/^HTTP\/1\.1 408/);
  }, 60_000);
});

describe('Idempotency-Key on submit', () => {
  const submit = (key: string | undefined, body: unknown) =>
    svc.app.inject({
      method: 'POST',
      url: '/queue/t/open',
      headers: key === undefined ? {} : { 'idempotency-key': key },
      payload: body as object,
    });
  const requestsOf = async () => {
    const env = (await store.apps.getWithEnvironment('t', 'open', 'production'))!.env!;
    const r = await store.db.query<{ n: number }>(
      'SELECT COUNT(*)::int AS n FROM requests WHERE environment_id = $1',
      [env.id],
    );
    return Number(r.rows[0]!.n);
  };

  it('answers a retried submit with the request the first one made, even when the retries race', async () => {
    const before = await requestsOf();
    const first = await submit('retry-1', { prompt: 'a cat' });
    expect(first.statusCode).toBe(200);
    const again = await submit('retry-1', { prompt: 'a cat' });
    expect(again.statusCode).toBe(200);
    expect(again.json().request_id).toBe(first.json().request_id);
    const racing = await Promise.all(Array.from({ length: 8 }, () => submit('retry-2', { prompt: 'a dog' })));
    expect(new Set(racing.map((r) => r.json().request_id)).size).toBe(1);
    expect(await requestsOf()).toBe(before + 2);
    // Without a key, every submit is a request of its own.
    await submit(undefined, { prompt: 'a cat' });
    await submit(undefined, { prompt: 'a cat' });
    expect(await requestsOf()).toBe(before + 4);
  });

  it('refuses the same key with another body (422) and a malformed key (400), storing nothing', async () => {
    expect((await submit('reused-1', { prompt: 'a cat' })).statusCode).toBe(200);
    const before = await requestsOf();
    const other = await submit('reused-1', { prompt: 'a different cat' });
    expect(other.statusCode).toBe(422);
    expect(other.json().code).toBe('GANTRY_ERR_IDEMPOTENCY_KEY_REUSED');
    const bad = await submit('has a space', {});
    expect(bad.statusCode).toBe(400);
    expect(bad.json().code).toBe('GANTRY_ERR_VALIDATION');
    expect(await requestsOf()).toBe(before);
  });

  it('lets a key expire after a day: a later use makes a new request', async () => {
    const env = (await store.apps.getWithEnvironment('t', 'open', 'production'))!.env!;
    let now = 1_000_000;
    const keys = new IdempotencyStore(store.db, () => now);
    await keys.remember(env.id, 'old-key', 'f1', 'req-a');
    expect(await keys.find(env.id, 'old-key')).toEqual({ requestId: 'req-a', fingerprint: 'f1' });
    await expect(keys.remember(env.id, 'old-key', 'f2', 'req-b')).rejects.toMatchObject({
      name: 'IdempotencyKeyTaken',
    });
    now += IDEMPOTENCY_KEY_TTL_MS + 1;
    expect(await keys.find(env.id, 'old-key')).toBeUndefined();
    await keys.remember(env.id, 'old-key', 'f2', 'req-b');
    expect(await keys.find(env.id, 'old-key')).toEqual({ requestId: 'req-b', fingerprint: 'f2' });
  });

  it('are deleted by the retention sweep once expired, while live ones keep answering', async () => {
    const env = (await store.apps.getWithEnvironment('t', 'open', 'production'))!.env!;
    const live = await submit('sweep-live', { prompt: 'a cat' });
    // Written by a clock a day and more behind control's: expired for the sweep.
    await new IdempotencyStore(store.db, () => Date.now() - IDEMPOTENCY_KEY_TTL_MS - 60_000).remember(
      env.id,
      'sweep-stale',
      'f',
      'req-stale',
    );
    const keysLeft = async () =>
      (
        await store.db.query<{ key: string }>(
          "SELECT key FROM idempotency_keys WHERE key LIKE 'sweep-%' ORDER BY key",
        )
      ).rows.map((r) => r.key);
    expect(await keysLeft()).toEqual(['sweep-live', 'sweep-stale']);
    await svc.sweepRetention();
    expect(await keysLeft()).toEqual(['sweep-live']);
    expect((await submit('sweep-live', { prompt: 'a cat' })).json().request_id).toBe(live.json().request_id);
  });
});

describe('Idempotency-Key on a sync run', () => {
  /** Generous: other tests keep this machine's cores busy. */
  const WAIT = { timeout: 30_000, interval: 50 };
  const run = (key: string, body: unknown, url = '/run/t/runs') =>
    svc.app.inject({ method: 'POST', url, headers: { 'idempotency-key': key }, payload: body as object });
  const requestsOf = async (envId: string) =>
    Number(
      (
        await store.db.query<{ n: number }>(
          'SELECT COUNT(*)::int AS n FROM requests WHERE environment_id = $1',
          [envId],
        )
      ).rows[0]!.n,
    );

  /** The environment's runner, once control asked for one, made ready; then the jobs it pulls. */
  async function runnerOf(envId: string) {
    await expect.poll(() => fx.compute.started.some((s) => s.environmentId === envId), WAIT).toBe(true);
    const spec = fx.compute.started.find((s) => s.environmentId === envId)!;
    expect((await fx.asRunner(spec, 'state', { state: 'IDLE' })).status).toBe(204);
    const pull = async () =>
      (await fx.asRunner(spec, 'pull', { max: 10, wait_ms: 0 })).body.jobs as {
        receipt: string;
        request_id: string;
      }[];
    const answer = (job: { receipt: string; request_id: string }, body: unknown) =>
      fx.asRunner(spec, 'results', {
        receipt: job.receipt,
        request_id: job.request_id,
        outcome: 'response',
        status_code: 200,
        body,
        started_at: new Date().toISOString(),
        finished_at: new Date().toISOString(),
      });
    const cancels = async (job: { receipt: string }) =>
      (await fx.asRunner(spec, 'heartbeat', { receipts: [job.receipt], in_flight: 1 })).body.cancel;
    /** The one job the environment has, once it reached the runner. */
    const take = async () => {
      const jobs: Awaited<ReturnType<typeof pull>> = [];
      await expect
        .poll(async () => {
          jobs.push(...(await pull()));
          return jobs.length;
        }, WAIT)
        .toBe(1);
      return jobs[0]!;
    };
    return { pull, take, answer, cancels };
  }

  it('answers a retry, while the first still runs and after, with the first run’s result; the work runs once', async () => {
    await fx.addApp('runs');
    const env = (await store.apps.getWithEnvironment('t', 'runs', 'production'))!.env!;
    const first = run('sync-1', { prompt: 'a cat' });
    const runner = await runnerOf(env.id);
    const job = await runner.take();
    // The client lost the answer and calls again while the app is still working.
    const retry = run('sync-1', { prompt: 'a cat' });
    await expect.poll(() => requestsOf(env.id), WAIT).toBe(1);
    expect((await runner.answer(job, { picture: 'cat.png' })).status).toBe(200);
    const later = await run('sync-1', { prompt: 'a cat' });
    for (const res of [await first, await retry, later]) {
      expect([res.statusCode, res.json()]).toEqual([200, { picture: 'cat.png' }]);
      expect(res.headers['x-fal-request-id']).toBe(job.request_id);
    }
    expect(await runner.pull()).toEqual([]);
    expect(await requestsOf(env.id)).toBe(1);

    // The same key for another body, or on the queue route, is another submit: refused, nothing stored.
    for (const res of [
      await run('sync-1', { prompt: 'a dog' }),
      await run('sync-1', { prompt: 'a cat' }, '/queue/t/runs'),
    ]) {
      expect([res.statusCode, res.json().code]).toEqual([422, 'GANTRY_ERR_IDEMPOTENCY_KEY_REUSED']);
    }
    expect(await requestsOf(env.id)).toBe(1);
  }, 60_000);

  it('keeps running when its caller hangs up, so the retry with the key gets its result', async () => {
    await fx.addApp('hangup');
    const env = (await store.apps.getWithEnvironment('t', 'hangup', 'production'))!.env!;
    const server = svc.app.server;
    if (!server.listening) await svc.app.listen({ port: 0, host: '127.0.0.1' });
    const { port } = server.address() as { port: number };
    const cut = new AbortController();
    const first = fetch(`http://127.0.0.1:${port}/run/t/hangup`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'idempotency-key': 'hang-1' },
      body: '{"n":1}',
      signal: cut.signal,
    }).catch(() => 'cut');
    const runner = await runnerOf(env.id);
    const job = await runner.take();
    cut.abort();
    expect(await first).toBe('cut');
    // Control has seen the hang-up once the connection is gone.
    const connections = () => new Promise<number>((resolve) => server.getConnections((_e, n) => resolve(n)));
    await expect.poll(connections, WAIT).toBe(0);
    const retry = run('hang-1', { n: 1 }, '/run/t/hangup');
    await expect.poll(() => requestsOf(env.id), WAIT).toBe(1);
    // A caller without a key who hangs up cancels (the runner hears it here); this one does not.
    expect(await runner.cancels(job)).toEqual([]);
    expect((await runner.answer(job, { done: true })).status).toBe(200);
    const res = await retry;
    expect([res.statusCode, res.json()]).toEqual([200, { done: true }]);
    expect(await requestsOf(env.id)).toBe(1);
  }, 60_000);
});
