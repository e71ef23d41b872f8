/**
 * What several control processes share through the store: who is alive, which runners a control
 * answers for, who reconciles an environment, and crash backoff. On PGlite and PostgreSQL.
 */
import { describe, expect, it } from 'vitest';
import { databaseTargets, storeUnderTest } from '../testing/databases.ts';
import { appWithRevision } from '../testing/store-fixtures.ts';
import { Store } from './store.ts';

const ALIVE_MS = 15_000;

describe.each(databaseTargets())('controls on $name', (target) => {
  let now = 1_000_000;
  const t = storeUnderTest(
    target,
    () => now,
    () => {
      now = 1_000_000;
    },
  );

  const controlOf = async (id: string) =>
    (await t.db.query<{ control_id: string | null }>('SELECT control_id FROM runners WHERE id=$1', [id]))
      .rows[0]?.control_id;

  it('a starting control adopts the runners of a control that is gone, never those of a live one', async () => {
    const { env, rev } = await appWithRevision(t.store);
    await t.store.controls.beat('a');
    await t.store.controls.beat('b');
    const ofA = await t.store.runners.create(env.id, rev.id, 'h1', 'a');
    const ofB = await t.store.runners.create(env.id, rev.id, 'h2', 'b');
    const ended = await t.store.runners.create(env.id, rev.id, 'h3', 'a');
    await t.store.runners.setState(ended.id, 'TERMINATED');

    // b keeps beating; a falls silent.
    now += ALIVE_MS - 1;
    await t.store.controls.beat('b');
    expect(await t.store.controls.adoptOrphans('c', ALIVE_MS)).toEqual([]);
    now += 2;
    await t.store.controls.beat('b');
    expect(await t.store.controls.adoptOrphans('c', ALIVE_MS)).toEqual([ofA.id]);
    expect(await controlOf(ofA.id)).toBe('c');
    expect(await controlOf(ofB.id)).toBe('b');
    expect(await controlOf(ended.id)).toBe('a');
    // Nothing was drained or ended by the adoption.
    const adopted = await t.store.runners.get(ofA.id);
    expect(adopted).toMatchObject({ state: 'PENDING', drain_requested: false, ended_at: null });
    expect(await t.store.controls.othersAlive('c', ALIVE_MS)).toEqual(['b']);
  });

  it('a control that leaves is gone at once', async () => {
    await t.store.controls.beat('a');
    await t.store.controls.beat('b');
    await t.store.controls.leave('a');
    expect(await t.store.controls.othersAlive('b', ALIVE_MS)).toEqual([]);
  });

  it('one control at a time holds an environment’s lease, until it releases it or it runs out', async () => {
    const { env } = await appWithRevision(t.store);
    expect(await t.store.controls.tryLease(env.id, 'a', 10_000)).toBe(true);
    expect(await t.store.controls.tryLease(env.id, 'b', 10_000)).toBe(false);
    // The holder renews it.
    expect(await t.store.controls.tryLease(env.id, 'a', 10_000)).toBe(true);
    await t.store.controls.releaseLease(env.id, 'b'); // not b's to release
    expect(await t.store.controls.tryLease(env.id, 'b', 10_000)).toBe(false);
    await t.store.controls.releaseLease(env.id, 'a');
    expect(await t.store.controls.tryLease(env.id, 'b', 10_000)).toBe(true);
    // b dies holding it: a takes it once it ran out.
    now += 10_001;
    expect(await t.store.controls.tryLease(env.id, 'a', 10_000)).toBe(true);
  });

  it('a ready runner silent for long, whose control is gone, is lost; one of a live control is not', async () => {
    const { env, rev } = await appWithRevision(t.store);
    await t.store.controls.beat('a');
    await t.store.controls.beat('b');
    const ofA = await t.store.runners.create(env.id, rev.id, 'h1', 'a');
    const ofB = await t.store.runners.create(env.id, rev.id, 'h2', 'b');
    const starting = await t.store.runners.create(env.id, rev.id, 'h3', 'a');
    await t.store.runners.setState(ofA.id, 'IDLE');
    await t.store.runners.setState(ofB.id, 'IDLE');
    now += 30_000;
    await t.store.runners.seen(ofA.id);
    now += 50_000;
    await t.store.controls.beat('b');
    const lost = async () =>
      (await t.store.runners.listLost(env.id, now - 60_000, now - ALIVE_MS)).map((r) => r.id);
    // Seen 50 s ago: not yet.
    expect(await lost()).toEqual([]);
    now += 11_000;
    await t.store.controls.beat('b');
    // Not the live control's runner, nor one still starting (startup_timeout covers those).
    expect(await lost()).toEqual([ofA.id]);
    expect(starting.ready_at).toBeNull();
  });

  it('keeps crash backoff where every control sees it, and clears it', async () => {
    const { env } = await appWithRevision(t.store);
    expect(await t.store.backoffs.get(env.id)).toBeUndefined();
    await t.store.backoffs.set(env.id, { kind: 'crash', crashes: 2, until: now + 60_000 });
    const other = new Store(t.db, () => now);
    expect(await other.backoffs.get(env.id)).toEqual({ kind: 'crash', crashes: 2, until: now + 60_000 });
    await t.store.backoffs.set(env.id, { kind: 'capacity', crashes: 2, until: now + 80_000 });
    expect(await other.backoffs.get(env.id)).toMatchObject({ kind: 'capacity', until: now + 80_000 });
    await other.backoffs.clear(env.id);
    expect(await t.store.backoffs.get(env.id)).toBeUndefined();
  });
});
