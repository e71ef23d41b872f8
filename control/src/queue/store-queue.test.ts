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
