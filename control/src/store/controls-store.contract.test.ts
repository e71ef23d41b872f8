/**
 * What several control processes share through the store: who is alive, which runners a control
 * answers for, who reconciles an environment, and crash backoff. On PGlite and PostgreSQL.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { SqlClient } from '../../../sql/src/sql-client.ts';
import { databaseTargets, truncateAll } from '../testing/databases.ts';
import { appWithRevision } from '../testing/store-fixtures.ts';
import { Store } from './store.ts';

const ALIVE_MS = 15_000;

describe.each(databaseTargets())('controls on $name', (target) => {
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
    now = 1_000_000;
  });
  afterAll(async () => {
    await store.close();
  });

  const controlOf = async (id: string) =>
    (await db.query<{ control_id: string | null }>('SELECT control_id FROM runners WHERE id=$1', [id]))
      .rows[0]?.control_id;

  it('a starting control adopts the runners of a control that is gone, never those of a live one', async () => {
    const { env, rev } = await appWithRevision(store);
    await store.controls.beat('a');
    await store.controls.beat('b');
    const ofA = await store.runners.create(env.id, rev.id, 'h1', 'a');
    const ofB = await store.runners.create(env.id, rev.id, 'h2', 'b');
    const ended = await store.runners.create(env.id, rev.id, 'h3', 'a');
    await store.runners.setState(ended.id, 'TERMINATED');

    // b keeps beating; a falls silent.
    now += ALIVE_MS - 1;
    await store.controls.beat('b');
    expect(await store.controls.adoptOrphans('c', ALIVE_MS)).toEqual([]);
    now += 2;
    await store.controls.beat('b');
    expect(await store.controls.adoptOrphans('c', ALIVE_MS)).toEqual([ofA.id]);
    expect(await controlOf(ofA.id)).toBe('c');
    expect(await controlOf(ofB.id)).toBe('b');
    expect(await controlOf(ended.id)).toBe('a');
    // Nothing was drained or ended by the adoption.
    const adopted = await store.runners.get(ofA.id);
    expect(adopted).toMatchObject({ state: 'PENDING', drain_requested: false, ended_at: null });
    expect(await store.controls.othersAlive('c', ALIVE_MS)).toEqual(['b']);
  });

  it('a control that leaves is gone at once', async () => {
    await store.controls.beat('a');
    await store.controls.beat('b');
    await store.controls.leave('a');
    expect(await store.controls.othersAlive('b', ALIVE_MS)).toEqual([]);
  });

  it('one control at a time holds an environment’s lease, until it releases it or it runs out', async () => {
    const { env } = await appWithRevision(store);
    expect(await store.controls.tryLease(env.id, 'a', 10_000)).toBe(true);
    expect(await store.controls.tryLease(env.id, 'b', 10_000)).toBe(false);
    // The holder renews it.
    expect(await store.controls.tryLease(env.id, 'a', 10_000)).toBe(true);
    await store.controls.releaseLease(env.id, 'b'); // not b's to release
    expect(await store.controls.tryLease(env.id, 'b', 10_000)).toBe(false);
    await store.controls.releaseLease(env.id, 'a');
    expect(await store.controls.tryLease(env.id, 'b', 10_000)).toBe(true);
    // b dies holding it: a takes it once it ran out.
    now += 10_001;
    expect(await store.controls.tryLease(env.id, 'a', 10_000)).toBe(true);
  });

  it('a ready runner silent for long, whose control is gone, is lost; one of a live control is not', async () => {
    const { env, rev } = await appWithRevision(store);
    await store.controls.beat('a');
    await store.controls.beat('b');
    const ofA = await store.runners.create(env.id, rev.id, 'h1', 'a');
    const ofB = await store.runners.create(env.id, rev.id, 'h2', 'b');
    const starting = await store.runners.create(env.id, rev.id, 'h3', 'a');
    await store.runners.setState(ofA.id, 'IDLE');
    await store.runners.setState(ofB.id, 'IDLE');
    now += 30_000;
    await store.runners.seen(ofA.id);
    now += 50_000;
    await store.controls.beat('b');
    const lost = async () =>
      (await store.runners.listLost(env.id, now - 60_000, now - ALIVE_MS)).map((r) => r.id);
    // Seen 50 s ago: not yet.
    expect(await lost()).toEqual([]);
    now += 11_000;
    await store.controls.beat('b');
    // Not the live control's runner, nor one still starting (startup_timeout covers those).
    expect(await lost()).toEqual([ofA.id]);
    expect(starting.ready_at).toBeNull();
  });

  it('keeps crash backoff where every control sees it, and clears it', async () => {
    const { env } = await appWithRevision(store);
    expect(await store.backoffs.get(env.id)).toBeUndefined();
    await store.backoffs.set(env.id, { kind: 'crash', crashes: 2, until: now + 60_000 });
    const other = new Store(db, () => now);
    expect(await other.backoffs.get(env.id)).toEqual({ kind: 'crash', crashes: 2, until: now + 60_000 });
    await store.backoffs.set(env.id, { kind: 'capacity', crashes: 2, until: now + 80_000 });
    expect(await other.backoffs.get(env.id)).toMatchObject({ kind: 'capacity', until: now + 80_000 });
    await other.backoffs.clear(env.id);
    expect(await store.backoffs.get(env.id)).toBeUndefined();
  });
});
