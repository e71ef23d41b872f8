import { describe, expect, it } from 'vitest';
import { GantryError } from '../../../contract/src/errors.ts';
import { parseCodeSettings } from '../../../contract/src/scaling-settings.ts';
import { databaseTargets, storeUnderTest } from '../testing/databases.ts';
import { appWithRevision, newRequest } from '../testing/store-fixtures.ts';

/** A key made without limits: any app, any environment, no expiry, no rate limit. */
const NO_LIMITS = { apps: null, environments: null, expires_at: null, rate_limit: null };

describe.each(databaseTargets())('store contract on $name', (target) => {
  let now = 1_000_000;
  const t = storeUnderTest(target, () => now);

  it('migrates twice without harm', async () => {
    await t.store.migrate();
    const r = await t.db.query<{ n: number }>('SELECT COUNT(*)::int AS n FROM schema_migrations');
    expect(Number(r.rows[0]!.n)).toBeGreaterThan(0);
  });

  it('a transaction lands the writes of several slices together, or none of them', async () => {
    const failed = await t.store
      .transaction(async (tx) => {
        const app = await tx.apps.create('acme', 'tx', 'private');
        await tx.keys.put('k-tx', 'h-tx', 'ADMIN', 'made in a transaction');
        expect((await tx.apps.get('acme', 'tx'))?.id).toBe(app.id);
        throw new Error('boom');
      })
      .catch((e: unknown) => e);
    expect(failed).toMatchObject({ message: 'boom' });
    expect(await t.store.apps.get('acme', 'tx')).toBeUndefined();
    expect(await t.store.keys.find('h-tx')).toBeUndefined();

    const made = await t.store.transaction(async (tx) => {
      await tx.keys.put('k-tx', 'h-tx', 'ADMIN', 'made in a transaction');
      return tx.apps.create('acme', 'tx', 'private');
    });
    expect((await t.store.apps.get('acme', 'tx'))?.id).toBe(made.id);
    expect(await t.store.keys.find('h-tx')).toMatchObject({ id: 'k-tx' });
  });

  it('creates an app with a production environment and refuses a duplicate', async () => {
    const app = await t.store.apps.create('acme', 'sd', 'public');
    expect(app).toMatchObject({ owner: 'acme', name: 'sd', auth_mode: 'public' });
    expect((await t.store.apps.listEnvironments(app.id)).map((e) => e.name)).toEqual(['production']);
    await expect(t.store.apps.create('acme', 'sd', 'public')).rejects.toMatchObject({
      code: 'GANTRY_ERR_APP_EXISTS',
    });
    expect(await t.store.apps.list()).toHaveLength(1);
  });

  it('numbers revisions per environment and keeps their settings', async () => {
    const { env } = await appWithRevision(t.store);
    const r2 = await t.store.revisions.create(env.id, {
      command: ['node', 'x.js'],
      settings: parseCodeSettings({ max_multiplexing: 4 }),
      message: 'second',
    });
    expect(r2.number).toBe(2);
    expect(r2.settings.max_multiplexing).toBe(4);
    expect(r2.command).toEqual(['node', 'x.js']);
    const staging = await t.store.apps.ensureEnvironment(env.app_id, 'staging');
    expect((await t.store.revisions.create(staging.id, { settings: parseCodeSettings() })).number).toBe(1);
    expect((await t.store.revisions.list(env.id)).map((r) => r.number)).toEqual([2, 1]);
  });

  it('tracks runner states, cold start and keeps ended runners ended', async () => {
    const { env, rev } = await appWithRevision(t.store);
    const r = await t.store.runners.create(env.id, rev.id, 'hash');
    expect(r.state).toBe('PENDING');
    now += 100;
    await t.store.runners.setState(r.id, 'SETUP');
    now += 400;
    const idle = await t.store.runners.setState(r.id, 'IDLE', { in_flight: 0 });
    expect(idle).toMatchObject({ state: 'IDLE', cold_start_ms: 500, ready_at: now, last_active_at: now });
    now += 50;
    await t.store.runners.setState(r.id, 'TERMINATED', { detail: 'bye' });
    expect(await t.store.runners.setState(r.id, 'IDLE')).toBeUndefined();
    const ended = (await t.store.runners.get(r.id))!;
    expect(ended.state).toBe('TERMINATED');
    expect(ended.history.map((h) => h.state)).toEqual(['PENDING', 'SETUP', 'IDLE', 'TERMINATED']);
    expect(await t.store.runners.list(env.id)).toHaveLength(0);
    expect(await t.store.runners.list(env.id, now - 1000)).toHaveLength(1);
  });

  it("the scaler's tick looks only at environments with work, live runners or a warm minimum", async () => {
    const make = async (name: string) => {
      const app = await t.store.apps.create('acme', name, 'private');
      const env = (await t.store.apps.getEnvironment(app.id, 'production'))!;
      const rev = await t.store.revisions.create(env.id, {
        command: ['true'],
        settings: parseCodeSettings(),
      });
      await t.store.apps.setActiveRevision(env.id, rev.id);
      return { env, rev };
    };
    for (let i = 0; i < 5; i++) await make(`idle-${i}`);
    const queued = await make('queued');
    await newRequest(t.store, queued.env.id);
    const running = await make('running');
    const runner = await t.store.runners.create(running.env.id, running.rev.id, 'hash');
    const warm = await make('warm');
    await t.store.apps.setScaling(warm.env.id, { ...warm.env.scaling, min_concurrency: 1 });
    const ended = await make('ended');
    const gone = await t.store.runners.create(ended.env.id, ended.rev.id, 'hash-2');
    await t.store.runners.setState(gone.id, 'TERMINATED');

    const names = async () => (await t.store.apps.listEnvironmentsToReconcile()).map((e) => e.id).sort();
    expect(await names()).toEqual([queued.env.id, running.env.id, warm.env.id].sort());
    await t.store.runners.setState(runner.id, 'TERMINATED');
    expect(await names()).toEqual([queued.env.id, warm.env.id].sort());
  });

  it('deleting an app removes everything under it', async () => {
    const { app, env, rev } = await appWithRevision(t.store);
    await t.store.runners.create(env.id, rev.id, 'h');
    await newRequest(t.store, env.id);
    expect(await t.store.apps.delete(app.id)).toBe(true);
    for (const table of ['environments', 'revisions', 'requests', 'runners']) {
      const r = await t.db.query<{ n: number }>(`SELECT COUNT(*)::int AS n FROM ${table}`);
      expect(Number(r.rows[0]!.n), table).toBe(0);
    }
  });

  it('finds keys by hash only while not revoked', async () => {
    await t.store.keys.put('admin', 'h1', 'ADMIN', 'admin key');
    expect(await t.store.keys.find('h1')).toEqual({ id: 'admin', scope: 'ADMIN', owner: null, ...NO_LIMITS });
    await t.store.keys.put('admin', 'h2', 'ADMIN', 'admin key');
    expect(await t.store.keys.find('h1')).toBeUndefined();
    expect(await t.store.keys.find('h2')).toBeDefined();
  });

  it('keeps key owners, lists keys without hashes, counts usage and revokes', async () => {
    const { env } = await appWithRevision(t.store);
    await t.store.keys.create({ id: 'k1', keyHash: 'hk1', scope: 'API', owner: 'acme', description: 'ci' });
    expect(await t.store.keys.find('hk1')).toEqual({ id: 'k1', scope: 'API', owner: 'acme', ...NO_LIMITS });
    await t.store.requests.create({
      environment_id: env.id,
      path: '',
      input: {},
      priority: 'normal',
      no_retry: false,
      start_deadline: null,
      key_id: 'k1',
    });
    const [k] = await t.store.keys.list();
    expect(k).toMatchObject({ id: 'k1', scope: 'API', owner: 'acme', description: 'ci', requests: 1 });
    expect(JSON.stringify(k)).not.toContain('hk1');
    expect(await t.store.keys.revoke('k1')).toBe(true);
    expect(await t.store.keys.revoke('k1')).toBe(false);
    expect(await t.store.keys.find('hk1')).toBeUndefined();
    expect(await t.store.keys.list()).toEqual([]);
  });

  it('keeps key limits and expiry, and finds them with the key', async () => {
    await t.store.keys.create({
      id: 'k-lim',
      keyHash: 'h-lim',
      scope: 'API',
      owner: 'acme',
      description: '',
      apps: ['acme/a'],
      environments: ['production'],
      expires_at: 5_000_000,
      rate_limit: 30,
    });
    expect(await t.store.keys.find('h-lim')).toEqual({
      id: 'k-lim',
      scope: 'API',
      owner: 'acme',
      apps: ['acme/a'],
      environments: ['production'],
      expires_at: 5_000_000,
      rate_limit: 30,
    });
  });

  it('keeps the audit log newest first, filters and pages it, and prunes what is past retention', async () => {
    const entry = (action: string, app: string | null, actor = 'admin') => ({
      actor,
      on_behalf_of: null,
      action,
      target: app ?? '/keys',
      owner: app ? app.split('/')[0]! : null,
      app,
      environment: null,
      status: 200,
      ip: '127.0.0.1',
      detail: { n: 1 },
    });
    now = 1_000_000;
    await t.store.audit.append(entry('app.create', 'acme/a'));
    now = 2_000_000;
    await t.store.audit.append(entry('key.create', null, 'key_x'));
    await t.store.audit.append(entry('app.delete', 'rival/b'));
    const all = await t.store.audit.list({ limit: 10 });
    expect(all.map((e) => e.action)).toEqual(['app.delete', 'key.create', 'app.create']);
    expect(all[2]).toMatchObject({ at: 1_000_000, detail: { n: 1 }, status: 200 });
    expect((await t.store.audit.list({ app: 'acme/a', limit: 10 })).map((e) => e.action)).toEqual([
      'app.create',
    ]);
    expect((await t.store.audit.list({ owner: 'rival', limit: 10 })).map((e) => e.action)).toEqual([
      'app.delete',
    ]);
    expect((await t.store.audit.list({ actor: 'key_x', limit: 10 })).map((e) => e.action)).toEqual([
      'key.create',
    ]);
    expect((await t.store.audit.list({ since: 1_500_000, limit: 10 })).length).toBe(2);
    const page = await t.store.audit.list({ before: all[0]!.seq, limit: 1 });
    expect(page.map((e) => e.action)).toEqual(['key.create']);
    expect(await t.store.audit.prune(1_500_000)).toBe(1);
    expect((await t.store.audit.list({ limit: 10 })).map((e) => e.action)).toEqual([
      'app.delete',
      'key.create',
    ]);
  });

  it('keeps secrets per environment, sealed as given, and deletes them with the environment', async () => {
    const { app, env } = await appWithRevision(t.store);
    const staging = await t.store.apps.createEnvironment(app.id, 'staging');
    await expect(t.store.apps.createEnvironment(app.id, 'staging')).rejects.toMatchObject({
      code: 'GANTRY_ERR_ENVIRONMENT_EXISTS',
    });
    const sealed = { key_id: 'k', nonce: 'bm9uY2U=', ciphertext: 'Y2lwaGVy' };
    await t.store.secrets.put(env.id, [{ name: 'A', value: sealed }]);
    await t.store.secrets.put(staging.id, [
      { name: 'B', value: sealed },
      { name: 'C', value: sealed },
    ]);
    expect((await t.store.secrets.list(env.id)).map((s) => s.name)).toEqual(['A']);
    expect(await t.store.secrets.sealed(staging.id)).toEqual([
      { name: 'B', value: sealed },
      { name: 'C', value: sealed },
    ]);
    expect(await t.store.secrets.delete(staging.id, ['B', 'Z'])).toEqual(['B']);
    expect(await t.store.apps.deleteEnvironment(staging.id)).toBe(true);
    const r = await t.db.query<{ n: number }>('SELECT COUNT(*)::int AS n FROM secrets');
    expect(Number(r.rows[0]!.n)).toBe(1);
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
    const first = await t.store.builds.register(b);
    expect(first.created).toBe(true);
    expect(first.build).toMatchObject({ ...b, created_at: now });
    now += 1000;
    const again = await t.store.builds.register({ ...b, registered_by: 'key:admin' });
    expect(again).toEqual({ build: first.build, created: false });
    const other = await t.store.builds.register({ ...b, commit_sha: 'b'.repeat(40) });
    expect(other.created).toBe(true);
    expect((await t.store.builds.list(repository)).map((x) => x.commit_sha)).toEqual([
      'b'.repeat(40),
      'a'.repeat(40),
    ]);
    expect(await t.store.builds.list(repository, 'a'.repeat(40))).toEqual([first.build]);
    expect(await t.store.builds.list('acme/none')).toEqual([]);
  });

  it('raises GantryError, not a driver error, for a duplicate app', async () => {
    await t.store.apps.create('a', 'b', 'public');
    const err = await t.store.apps.create('a', 'b', 'public').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(GantryError);
  });

  it('records rollouts: one open per environment, completing one switches the active revision', async () => {
    const { env, rev } = await appWithRevision(t.store);
    const next = await t.store.revisions.create(env.id, { command: ['true'], settings: parseCodeSettings() });
    const base = {
      environment_id: env.id,
      from_revision_id: rev.id,
      strategy: 'rolling' as const,
      restart: false,
      reason: 'deploy',
      created_by: 'api',
    };
    const first = await t.store.rollouts.create({ ...base, to_revision_id: next.id });
    const second = await t.store.rollouts.create({ ...base, to_revision_id: next.id });
    expect(second.superseded.map((r) => r.id)).toEqual([first.rollout.id]);
    expect((await t.store.rollouts.getOpen(env.id))?.id).toBe(second.rollout.id);
    expect(await t.store.rollouts.end(second.rollout.id, 'completed', null)).toBe(true);
    expect(await t.store.rollouts.end(second.rollout.id, 'aborted', 'late')).toBe(false);
    expect((await t.store.apps.getEnvironmentById(env.id))?.active_revision_id).toBe(next.id);
    const list = await t.store.rollouts.list(env.id, 10);
    expect(list.map((r) => r.state)).toEqual(['completed', 'superseded']);
    expect(list[0]!.switched_at).not.toBeNull();
    expect(await t.store.rollouts.getOpen(env.id)).toBeUndefined();
  });
});
