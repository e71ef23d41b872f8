import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { GantryError } from '../../../contract/src/errors.ts';
import { parseCodeSettings } from '../../../contract/src/scaling-settings.ts';
import type { SqlClient } from '../../../sql/src/sql-client.ts';
import { databaseTargets, truncateAll } from '../testing/databases.ts';
import { Store } from './store.ts';

describe.each(databaseTargets())('store contract on $name', (target) => {
  let db: SqlClient;
  let store: Store;
  let now = 1_000_000;

  beforeAll(async () => {
    db = await target.open();
    store = new Store(db, () => now);
    await store.migrate();
  });
  beforeEach(async () => {
    await truncateAll(db);
  });
  afterAll(async () => {
    await store.close();
  });

  /** A plain queued request of an environment, as the fal API makes one. */
  const newRequest = (environment_id: string) =>
    store.requests.create({
      environment_id,
      path: '',
      input: {},
      priority: 'normal',
      no_retry: false,
      start_deadline: null,
    });

  async function appWithRevision() {
    const app = await store.apps.create('acme', 'sd', 'private');
    const env = (await store.apps.getEnvironment(app.id, 'production'))!;
    const rev = await store.revisions.create(env.id, { command: ['true'], settings: parseCodeSettings() });
    await store.apps.setActiveRevision(env.id, rev.id);
    return { app, env, rev };
  }

  it('migrates twice without harm', async () => {
    await store.migrate();
    const r = await db.query<{ n: number }>('SELECT COUNT(*)::int AS n FROM schema_migrations');
    expect(Number(r.rows[0]!.n)).toBeGreaterThan(0);
  });

  it('creates an app with a production environment and refuses a duplicate', async () => {
    const app = await store.apps.create('acme', 'sd', 'public');
    expect(app).toMatchObject({ owner: 'acme', name: 'sd', auth_mode: 'public' });
    expect((await store.apps.listEnvironments(app.id)).map((e) => e.name)).toEqual(['production']);
    await expect(store.apps.create('acme', 'sd', 'public')).rejects.toMatchObject({
      code: 'GANTRY_ERR_APP_EXISTS',
    });
    expect(await store.apps.list()).toHaveLength(1);
  });

  it('numbers revisions per environment and keeps their settings', async () => {
    const { env } = await appWithRevision();
    const r2 = await store.revisions.create(env.id, {
      command: ['node', 'x.js'],
      settings: parseCodeSettings({ max_multiplexing: 4 }),
      message: 'second',
    });
    expect(r2.number).toBe(2);
    expect(r2.settings.max_multiplexing).toBe(4);
    expect(r2.command).toEqual(['node', 'x.js']);
    const staging = await store.apps.ensureEnvironment(env.app_id, 'staging');
    expect((await store.revisions.create(staging.id, { settings: parseCodeSettings() })).number).toBe(1);
    expect((await store.revisions.list(env.id)).map((r) => r.number)).toEqual([2, 1]);
  });

  it('completes a request exactly once', async () => {
    const { env } = await appWithRevision();
    const req = await store.requests.create({
      environment_id: env.id,
      path: '',
      input: { name: 'Ada' },
      priority: 'normal',
      no_retry: false,
      start_deadline: null,
    });
    expect(req.status).toBe('IN_QUEUE');
    expect(req.input).toEqual({ name: 'Ada' });
    const started = await store.requests.startAttempt(req.id, 'runner-1');
    expect(started).toMatchObject({ status: 'IN_PROGRESS', attempts: 1, runner_id: 'runner-1' });
    const c = {
      result_status: 200,
      result_body: { message: 'hi' },
      result_content_type: 'application/json',
      error: null,
      error_type: null,
      inference_ms: 12,
    };
    const first = await store.requests.complete(req.id, c);
    const second = await store.requests.complete(req.id, { ...c, result_body: { message: 'late' } });
    expect(first?.result_body).toEqual({ message: 'hi' });
    expect(second).toBeUndefined();
    expect((await store.requests.get(req.id))?.result_body).toEqual({ message: 'hi' });
    expect(await store.requests.startAttempt(req.id, 'runner-2')).toBeUndefined();
  });

  it('cancels a queued request for good, flags an in-progress one, refuses a completed one', async () => {
    const { env } = await appWithRevision();
    const mk = () => newRequest(env.id);
    const queued = await mk();
    expect(await store.requests.cancel(queued.id)).toBe('IN_QUEUE');
    expect(await store.requests.get(queued.id)).toMatchObject({
      status: 'COMPLETED',
      error_type: 'client_cancelled',
    });
    expect(await store.requests.startAttempt(queued.id, 'r')).toBeUndefined();
    expect(await store.requests.cancel(queued.id)).toBe('COMPLETED');

    const running = await mk();
    await store.requests.startAttempt(running.id, 'r');
    expect(await store.requests.cancel(running.id)).toBe('IN_PROGRESS');
    expect(await store.requests.cancelRequested([running.id, queued.id])).toEqual([running.id]);
    expect(await store.requests.cancel('no-such-id')).toBeUndefined();
  });

  it('reports queue positions with normal priority ahead of low', async () => {
    const { env } = await appWithRevision();
    const mk = (priority: 'normal' | 'low') => {
      now += 1;
      return store.requests.create({
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
    expect(await store.requests.queuePosition(a)).toBe(0);
    expect(await store.requests.queuePosition(b)).toBe(1);
    expect(await store.requests.queuePosition(low)).toBe(2);
    await store.requests.startAttempt(a.id, 'r');
    expect(await store.requests.queuePosition(b)).toBe(0);
    expect(await store.requests.counts(env.id)).toEqual({
      queued: 2,
      inProgress: 1,
      oldestQueuedAt: low.created_at,
      byPriority: { normal: { queued: 1, inFlight: 1 }, low: { queued: 1, inFlight: 0 } },
    });
  });

  it('keeps request logs in order and drops lines of unknown requests', async () => {
    const { env } = await appWithRevision();
    const req = await newRequest(env.id);
    const line = (message: string, request_id = req.id) => ({
      request_id,
      message,
      level: 'STDOUT',
      source: 'user',
      timestamp: new Date(now).toISOString(),
    });
    await store.logs.append([line('one'), line('two'), line('ghost', 'nope')]);
    const logs = await store.logs.forRequest(req.id);
    expect(logs.map((l) => l.message)).toEqual(['one', 'two']);
    await store.logs.append([line('three')]);
    expect((await store.logs.forRequest(req.id, logs[1]!.seq)).map((l) => l.message)).toEqual(['three']);
  });

  it('tracks runner states, cold start and keeps ended runners ended', async () => {
    const { env, rev } = await appWithRevision();
    const r = await store.runners.create(env.id, rev.id, 'hash');
    expect(r.state).toBe('PENDING');
    now += 100;
    await store.runners.setState(r.id, 'SETUP');
    now += 400;
    const idle = await store.runners.setState(r.id, 'IDLE', { in_flight: 0 });
    expect(idle).toMatchObject({ state: 'IDLE', cold_start_ms: 500, ready_at: now, last_active_at: now });
    now += 50;
    await store.runners.setState(r.id, 'TERMINATED', { detail: 'bye' });
    expect(await store.runners.setState(r.id, 'IDLE')).toBeUndefined();
    const ended = (await store.runners.get(r.id))!;
    expect(ended.state).toBe('TERMINATED');
    expect(ended.history.map((h) => h.state)).toEqual(['PENDING', 'SETUP', 'IDLE', 'TERMINATED']);
    expect(await store.runners.list(env.id)).toHaveLength(0);
    expect(await store.runners.list(env.id, now - 1000)).toHaveLength(1);
  });

  it("a runner never starts or logs for another environment's request", async () => {
    const { env } = await appWithRevision();
    const other = await store.apps.ensureEnvironment(env.app_id, 'staging');
    const req = await newRequest(env.id);
    expect(await store.requests.startAttempt(req.id, 'intruder', other.id)).toBeUndefined();
    expect((await store.requests.get(req.id))?.status).toBe('IN_QUEUE');
    const line = { request_id: req.id, message: 'x', level: 'STDOUT', source: 'user', timestamp: 't' };
    await store.logs.append([line], other.id);
    expect(await store.logs.forRequest(req.id)).toEqual([]);
    await store.logs.append([{ ...line, message: 'nul \u0000 inside' }], env.id);
    expect((await store.logs.forRequest(req.id)).map((l) => l.message)).toEqual(['nul \uFFFD inside']);
    expect(await store.requests.startAttempt(req.id, 'runner', env.id)).toMatchObject({
      status: 'IN_PROGRESS',
    });
  });

  it('flushing a queue completes its requests as cancelled and queues their webhooks once', async () => {
    const { env } = await appWithRevision();
    const hooked = await store.requests.create({
      environment_id: env.id,
      path: '',
      input: {},
      priority: 'normal',
      no_retry: false,
      start_deadline: null,
      webhook_url: 'https://hooks.example.com/done',
    });
    const plain = await newRequest(env.id);
    const flushed = await store.requests.cancelQueued(env.id);
    expect(flushed.map((r) => r.id).sort()).toEqual([hooked.id, plain.id].sort());
    expect(flushed.every((r) => r.status === 'COMPLETED' && r.error_type === 'client_cancelled')).toBe(true);
    expect(await store.requests.cancelQueued(env.id)).toEqual([]);
    const rows = await db.query<{ request_id: string }>('SELECT request_id FROM webhook_deliveries');
    expect(rows.rows.map((r) => r.request_id)).toEqual([hooked.id]);
  });

  it('a start deadline covers retries: past it, a requeued request never starts again and the reaper ends it', async () => {
    const { env } = await appWithRevision();
    const req = await store.requests.create({
      environment_id: env.id,
      path: '',
      input: {},
      priority: 'normal',
      no_retry: false,
      start_deadline: now + 1000,
    });
    expect(await store.requests.startAttempt(req.id, 'r1', env.id)).toMatchObject({ attempts: 1 });
    await store.requests.requeue(req.id, 'r1'); // the app answered 503: back in the queue
    now += 2000;
    expect(await store.requests.startAttempt(req.id, 'r2', env.id)).toBeUndefined();
    const expired = await store.requests.expireStartDeadlines();
    expect(expired.map((r) => r.id)).toEqual([req.id]);
    expect(expired[0]).toMatchObject({
      status: 'COMPLETED',
      result_status: 504,
      error_type: 'request_timeout',
    });
  });

  it('finds the requests a runner serves whose caller asked to cancel', async () => {
    const { env } = await appWithRevision();
    const mk = () => newRequest(env.id);
    const a = await mk();
    const b = await mk();
    await store.requests.startAttempt(a.id, 'r1', env.id);
    await store.requests.startAttempt(b.id, 'r1', env.id);
    expect(await store.requests.cancelRequestedFor('r1')).toEqual([]);
    expect(await store.requests.cancel(a.id)).toBe('IN_PROGRESS');
    expect(await store.requests.cancelRequestedFor('r1')).toEqual([a.id]);
    expect(await store.requests.cancelRequestedFor('r2')).toEqual([]);
  });

  it('deleting an app removes everything under it', async () => {
    const { app, env, rev } = await appWithRevision();
    await store.runners.create(env.id, rev.id, 'h');
    await newRequest(env.id);
    expect(await store.apps.delete(app.id)).toBe(true);
    for (const t of ['environments', 'revisions', 'requests', 'runners']) {
      const r = await db.query<{ n: number }>(`SELECT COUNT(*)::int AS n FROM ${t}`);
      expect(Number(r.rows[0]!.n), t).toBe(0);
    }
  });

  it('finds keys by hash only while not revoked', async () => {
    await store.keys.put('admin', 'h1', 'ADMIN', 'admin key');
    expect(await store.keys.find('h1')).toEqual({ id: 'admin', scope: 'ADMIN', owner: null });
    await store.keys.put('admin', 'h2', 'ADMIN', 'admin key');
    expect(await store.keys.find('h1')).toBeUndefined();
    expect(await store.keys.find('h2')).toBeDefined();
  });

  it('keeps key owners, lists keys without hashes, counts usage and revokes', async () => {
    const { env } = await appWithRevision();
    await store.keys.create({ id: 'k1', keyHash: 'hk1', scope: 'API', owner: 'acme', description: 'ci' });
    expect(await store.keys.find('hk1')).toEqual({ id: 'k1', scope: 'API', owner: 'acme' });
    await store.requests.create({
      environment_id: env.id,
      path: '',
      input: {},
      priority: 'normal',
      no_retry: false,
      start_deadline: null,
      key_id: 'k1',
    });
    const [k] = await store.keys.list();
    expect(k).toMatchObject({ id: 'k1', scope: 'API', owner: 'acme', description: 'ci', requests: 1 });
    expect(JSON.stringify(k)).not.toContain('hk1');
    expect(await store.keys.revoke('k1')).toBe(true);
    expect(await store.keys.revoke('k1')).toBe(false);
    expect(await store.keys.find('hk1')).toBeUndefined();
    expect(await store.keys.list()).toEqual([]);
  });

  it('keeps secrets per environment, sealed as given, and deletes them with the environment', async () => {
    const { app, env } = await appWithRevision();
    const staging = await store.apps.createEnvironment(app.id, 'staging');
    await expect(store.apps.createEnvironment(app.id, 'staging')).rejects.toMatchObject({
      code: 'GANTRY_ERR_ENVIRONMENT_EXISTS',
    });
    const sealed = { key_id: 'k', nonce: 'bm9uY2U=', ciphertext: 'Y2lwaGVy' };
    await store.secrets.put(env.id, [{ name: 'A', value: sealed }]);
    await store.secrets.put(staging.id, [
      { name: 'B', value: sealed },
      { name: 'C', value: sealed },
    ]);
    expect((await store.secrets.list(env.id)).map((s) => s.name)).toEqual(['A']);
    expect(await store.secrets.sealed(staging.id)).toEqual([
      { name: 'B', value: sealed },
      { name: 'C', value: sealed },
    ]);
    expect(await store.secrets.delete(staging.id, ['B', 'Z'])).toEqual(['B']);
    expect(await store.apps.deleteEnvironment(staging.id)).toBe(true);
    const r = await db.query<{ n: number }>('SELECT COUNT(*)::int AS n FROM secrets');
    expect(Number(r.rows[0]!.n)).toBe(1);
  });

  it('flushes only queued requests, and tells a failed revision from one that ran', async () => {
    const { env, rev } = await appWithRevision();
    const mk = () => newRequest(env.id);
    const queued = await mk();
    const running = await mk();
    await store.requests.startAttempt(running.id, 'r');
    expect((await store.requests.cancelQueued(env.id)).map((r) => r.id)).toEqual([queued.id]);
    expect(await store.requests.get(queued.id)).toMatchObject({
      status: 'COMPLETED',
      error_type: 'client_cancelled',
    });
    expect((await store.requests.get(running.id))?.status).toBe('IN_PROGRESS');

    expect((await store.revisions.health(env.id)).get(rev.id)).toBeUndefined();
    const crashed = await store.runners.create(env.id, rev.id, 'h');
    await store.runners.setState(crashed.id, 'CRASH_BACKOFF', { detail: 'setup failed: boom' });
    expect((await store.revisions.health(env.id)).get(rev.id)).toEqual({
      status: 'failed',
      failure: 'setup failed: boom',
    });
    const ok = await store.runners.create(env.id, rev.id, 'h');
    await store.runners.setState(ok.id, 'IDLE');
    expect((await store.revisions.health(env.id)).get(rev.id)).toEqual({ status: 'ok', failure: null });
  });

  it('registers a build once per repository, commit and digest, and lists them newest first', async () => {
    // A repository name of its own: builds are not among the tables truncateAll empties.
    const repository = `acme/builds-${Math.random().toString(36).slice(2)}`;
    const b = {
      repository,
      commit_sha: 'a'.repeat(40),
      ref: 'refs/heads/main',
      image: `reg/acme@sha256:${'1'.repeat(64)}`,
      digest: `sha256:${'1'.repeat(64)}`,
      content_hash: 'c'.repeat(64),
      registered_by: 'oidc:repo:acme/x:ref:refs/heads/main',
    };
    const first = await store.builds.register(b);
    expect(first.created).toBe(true);
    expect(first.build).toMatchObject({ ...b, created_at: now });
    now += 1000;
    const again = await store.builds.register({ ...b, registered_by: 'key:admin' });
    expect(again).toEqual({ build: first.build, created: false });
    const other = await store.builds.register({ ...b, commit_sha: 'b'.repeat(40) });
    expect(other.created).toBe(true);
    expect((await store.builds.list(repository)).map((x) => x.commit_sha)).toEqual([
      'b'.repeat(40),
      'a'.repeat(40),
    ]);
    expect(await store.builds.list(repository, 'a'.repeat(40))).toEqual([first.build]);
    expect(await store.builds.list('acme/none')).toEqual([]);
  });

  it('raises GantryError, not a driver error, for a duplicate app', async () => {
    await store.apps.create('a', 'b', 'public');
    const err = await store.apps.create('a', 'b', 'public').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(GantryError);
  });
  it('records rollouts: one open per environment, completing one switches the active revision', async () => {
    const { env, rev } = await appWithRevision();
    const next = await store.revisions.create(env.id, { command: ['true'], settings: parseCodeSettings() });
    const base = {
      environment_id: env.id,
      from_revision_id: rev.id,
      strategy: 'rolling' as const,
      restart: false,
      reason: 'deploy',
      created_by: 'api',
    };
    const first = await store.rollouts.create({ ...base, to_revision_id: next.id });
    const second = await store.rollouts.create({ ...base, to_revision_id: next.id });
    expect(second.superseded.map((r) => r.id)).toEqual([first.rollout.id]);
    expect((await store.rollouts.getOpen(env.id))?.id).toBe(second.rollout.id);
    expect(await store.rollouts.end(second.rollout.id, 'completed', null)).toBe(true);
    expect(await store.rollouts.end(second.rollout.id, 'aborted', 'late')).toBe(false);
    expect((await store.apps.getEnvironmentById(env.id))?.active_revision_id).toBe(next.id);
    const list = await store.rollouts.list(env.id, 10);
    expect(list.map((r) => r.state)).toEqual(['completed', 'superseded']);
    expect(list[0]!.switched_at).not.toBeNull();
    expect(await store.rollouts.getOpen(env.id)).toBeUndefined();
  });

  it('knows recent cold start and request times once it has seen both', async () => {
    const { env, rev } = await appWithRevision();
    expect(await store.requests.recentTimings(env.id)).toBeNull();
    const runner = await store.runners.create(env.id, rev.id, 'h');
    await store.runners.setState(runner.id, 'IDLE');
    const req = await newRequest(env.id);
    await store.requests.complete(req.id, {
      result_status: 200,
      result_body: {},
      result_content_type: 'application/json',
      error: null,
      error_type: null,
      inference_ms: 1500,
    });
    expect(await store.requests.recentTimings(env.id)).toEqual({
      coldStartMs: expect.any(Number),
      serviceMs: 1500,
    });
  });
});
