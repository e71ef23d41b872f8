/** The App's per-environment lock: in one process, and across replicas sharing PostgreSQL. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PgClient } from '../../sql/src/pg-client.ts';
import { PgliteClient } from '../../sql/src/pglite-client.ts';
import type { SqlClient } from '../../sql/src/sql-client.ts';
import { advisoryKey, KeyedLock } from './keyed-lock.ts';

/** Runs two works on one key through two locks; returns the order they started and ended in. */
async function interleaving(first: KeyedLock, second: KeyedLock): Promise<string[]> {
  const order: string[] = [];
  let release!: () => void;
  const held = new Promise<void>((resolve) => {
    release = resolve;
  });
  let started!: () => void;
  const firstStarted = new Promise<void>((resolve) => {
    started = resolve;
  });
  const a = first.run('acme/repo production', async () => {
    order.push('a start');
    started();
    await held;
    order.push('a end');
  });
  await firstStarted;
  const b = second.run('acme/repo production', async () => {
    order.push('b start');
    order.push('b end');
  });
  // Give b every chance to start early if the lock let it.
  for (let i = 0; i < 20; i++) await new Promise((resolve) => setTimeout(resolve, 10));
  release();
  await Promise.all([a, b]);
  return order;
}

describe('KeyedLock', () => {
  it('runs the work of one key one at a time, in arrival order, and other keys beside it', async () => {
    const lock = new KeyedLock();
    expect(await interleaving(lock, lock)).toEqual(['a start', 'a end', 'b start', 'b end']);
    const order: string[] = [];
    await Promise.all([
      lock.run('x', async () => {
        order.push('x');
        await new Promise((resolve) => setTimeout(resolve, 20));
      }),
      lock.run('y', async () => {
        order.push('y');
      }),
    ]);
    expect(order).toEqual(['x', 'y']);
  });

  it('keys map to distinct advisory locks', () => {
    expect(advisoryKey('a production')).not.toBe(advisoryKey('a staging'));
    expect(advisoryKey('a production')).toBe(advisoryKey('a production'));
  });

  it('on PGlite (one process) works without advisory locks', async () => {
    const db = await PgliteClient.open(undefined);
    try {
      const lock = new KeyedLock(db);
      expect(await interleaving(lock, lock)).toEqual(['a start', 'a end', 'b start', 'b end']);
    } finally {
      await db.close();
    }
  });

  const url = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
  describe('two replicas on one PostgreSQL', () => {
    let one: SqlClient;
    let two: SqlClient;
    beforeAll(async () => {
      one = await PgClient.open(url);
      two = await PgClient.open(url);
    });
    afterAll(async () => {
      await one?.close();
      await two?.close();
    });

    it('the work of one key in one replica waits for the same key’s work in the other', async () => {
      // Two locks over two connection pools: as two control processes are.
      expect(await interleaving(new KeyedLock(one), new KeyedLock(two))).toEqual([
        'a start',
        'a end',
        'b start',
        'b end',
      ]);
    });
  });
});
