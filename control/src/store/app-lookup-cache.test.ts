import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseCodeSettings } from '../../../contract/src/scaling-settings.ts';
import { PgliteClient } from '../../../sql/src/pglite-client.ts';
import type { QueryResult, SqlClient } from '../../../sql/src/sql-client.ts';
import { Store } from './store.ts';

/** Counts the statements that reach the database. */
class CountingClient implements SqlClient {
  statements = 0;
  constructor(private readonly inner: SqlClient) {}
  get kind() {
    return this.inner.kind;
  }
  query<T>(sql: string, params?: unknown[]): Promise<QueryResult<T>> {
    this.statements++;
    return this.inner.query<T>(sql, params);
  }
  exec(sql: string) {
    return this.inner.exec(sql);
  }
  transaction<T>(fn: (tx: SqlClient) => Promise<T>): Promise<T> {
    return this.inner.transaction((tx) => fn(new CountingClient(tx)));
  }
  close() {
    return this.inner.close();
  }
}

describe('the request path app lookup, kept in memory', () => {
  let raw: PgliteClient;
  let db: CountingClient;
  let store: Store;

  beforeAll(async () => {
    raw = await PgliteClient.open(undefined);
    db = new CountingClient(raw);
    store = new Store(db);
    await store.migrate();
  });
  afterAll(async () => {
    await store.close();
  });

  it('answers a repeated lookup without a statement', async () => {
    await store.apps.create('acme', 'cached', 'public');
    const first = await store.apps.getWithEnvironment('acme', 'cached', 'production');
    const before = db.statements;
    const again = await store.apps.getWithEnvironment('acme', 'cached', 'production');
    expect(db.statements).toBe(before);
    expect(again).toEqual(first);
    // Each caller gets its own copy.
    again!.app.auth_mode = 'private';
    expect((await store.apps.getWithEnvironment('acme', 'cached', 'production'))!.app.auth_mode).toBe(
      'public',
    );
  });

  it('sees every change made through the store at once', async () => {
    const app = await store.apps.create('acme', 'changing', 'public');
    const env = (await store.apps.getEnvironment(app.id, 'production'))!;
    const look = () => store.apps.getWithEnvironment('acme', 'changing', 'production');
    await look();

    await store.apps.setAuthMode(app.id, 'private');
    expect((await look())!.app.auth_mode).toBe('private');

    const rev = await store.revisions.create(env.id, { command: ['true'], settings: parseCodeSettings() });
    await store.apps.setActiveRevision(env.id, rev.id);
    expect((await look())!.env!.active_revision_id).toBe(rev.id);

    // A rollout that completes switches the active revision in its own transaction.
    const next = await store.revisions.create(env.id, { command: ['true'], settings: parseCodeSettings() });
    const { rollout } = await store.rollouts.create({
      environment_id: env.id,
      from_revision_id: rev.id,
      to_revision_id: next.id,
      strategy: 'recreate',
      restart: false,
      reason: null,
      created_by: null,
    });
    await look();
    await store.rollouts.end(rollout.id, 'completed', null);
    expect((await look())!.env!.active_revision_id).toBe(next.id);

    await store.apps.deleteEnvironment(env.id);
    expect((await look())?.env).toBeUndefined();
    await store.apps.delete(app.id);
    expect(await look()).toBeUndefined();
  });

  it('keeps no environment that does not exist yet', async () => {
    const app = await store.apps.create('acme', 'grows', 'public');
    expect((await store.apps.getWithEnvironment('acme', 'grows', 'staging'))?.env).toBeUndefined();
    await store.apps.createEnvironment(app.id, 'staging');
    expect((await store.apps.getWithEnvironment('acme', 'grows', 'staging'))?.env?.name).toBe('staging');
  });

  it('sees a change made by another control process sharing the database, within a short while', async () => {
    const app = await store.apps.create('acme', 'elsewhere', 'public');
    await store.apps.getWithEnvironment('acme', 'elsewhere', 'production');
    // Another process: its own store (and cache) over the same database.
    await new Store(raw).apps.setAuthMode(app.id, 'shared');
    const seen = async () =>
      (await store.apps.getWithEnvironment('acme', 'elsewhere', 'production'))!.app.auth_mode;
    for (let i = 0; i < 400 && (await seen()) !== 'shared'; i++) await sleep(50);
    expect(await seen()).toBe('shared');
  });
});
