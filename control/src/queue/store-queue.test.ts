import { describe, expect, it } from 'vitest';
import { migrate } from '../store/migrations.ts';
import { databaseTargets } from '../testing/databases.ts';
import { queueContract } from './queue.contract.ts';
import { StoreQueue } from './store-queue.ts';

for (const target of databaseTargets()) {
  queueContract(`the store queue (${target.name})`, async () => {
    const db = await target.open();
    await migrate(db);
    const queue = new StoreQueue(db);
    return {
      queue,
      close: async () => {
        await queue.close();
        await db.close();
      },
    };
  });
}

describe('the store queue beyond the contract', () => {
  it('refuses a stale receipt: after a redelivery the first receipt no longer deletes', async () => {
    const db = await databaseTargets()[0]!.open();
    await migrate(db);
    const q = new StoreQueue(db);
    try {
      await q.send('env', { request_id: 'r1' }, 'normal');
      const [first] = await q.receive('env', { max: 1, visibilitySeconds: 0, waitMs: 0 });
      const [again] = await q.receive('env', { max: 1, visibilitySeconds: 30, waitMs: 0 });
      expect(again?.receiveCount).toBe(2);
      expect(await q.delete(first!.receipt)).toBe(false);
      expect(await q.extend(first!.receipt, 30)).toBe(false);
      expect(await q.delete(again!.receipt)).toBe(true);
    } finally {
      await q.close();
      await db.close();
    }
  });
});
