/**
 * Runs work one at a time per key (an app's environment), in arrival order, so two rollouts of one
 * environment never interleave. Inside this process a queue per key does it; when the database
 * is PostgreSQL, which several control processes may share, the work also holds a transaction
 * advisory lock on the key, so it does not interleave with the same key's work in another replica.
 */
import { createHash } from 'node:crypto';
import type { SqlHandle } from '../../contract/src/extension.ts';

/** Keys held across processes at once by this one: each holds a database connection while it works. */
const SHARED_AT_ONCE = 3;
/** Keeps this lock's keys apart from other users of advisory locks (migrations use 74201, 74202). */
const NAMESPACE = 'gantry-github-app:';

export class KeyedLock {
  private tails = new Map<string, Promise<unknown>>();
  private holding = 0;
  private readonly waiting: (() => void)[] = [];

  constructor(private readonly sql?: SqlHandle) {}

  run<T>(key: string, work: () => Promise<T>): Promise<T> {
    const guarded = this.sql?.kind === 'postgres' ? () => this.acrossProcesses(key, work) : work;
    const prev = this.tails.get(key) ?? Promise.resolve();
    const next = prev.then(guarded, guarded);
    const tail = next.catch(() => undefined);
    this.tails.set(key, tail);
    void tail.then(() => {
      if (this.tails.get(key) === tail) this.tails.delete(key);
    });
    return next;
  }

  private async acrossProcesses<T>(key: string, work: () => Promise<T>): Promise<T> {
    // Bounded, so the connections held here never starve the pool the work itself needs.
    while (this.holding >= SHARED_AT_ONCE) await new Promise<void>((resolve) => this.waiting.push(resolve));
    this.holding++;
    try {
      return await this.sql!.transaction(async (tx) => {
        await tx.query('SELECT pg_advisory_xact_lock($1::bigint)', [advisoryKey(key)]);
        return work();
      });
    } finally {
      this.holding--;
      this.waiting.shift()?.();
    }
  }
}

/** A signed 64-bit advisory lock key for a string key. */
export function advisoryKey(key: string): string {
  return createHash('sha256')
    .update(NAMESPACE + key)
    .digest()
    .readBigInt64BE(0)
    .toString();
}
