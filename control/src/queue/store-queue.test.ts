import { describe, expect, it } from 'vitest';
import { migrate } from '../store/migrations.ts';
import { Store } from '../store/store.ts';
import { databaseTargets } from '../testing/databases.ts';
import { appWithRevision } from '../testing/store-fixtures.ts';
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

  it('deletes a message with the statement that completes its request, and only when it completes', async () => {
    const db = await databaseTargets()[0]!.open();
    const store = new Store(db);
    await store.migrate();
    const q = new StoreQueue(db);
    try {
      const { env } = await appWithRevision(store);
      const c = {
        result_status: 200,
        result_body: { ok: true },
        result_content_type: 'application/json',
        error: null,
        error_type: null,
        inference_ms: 1,
      };
      const newReq = () =>
        store.requests.create({
          environment_id: env.id,
          path: '',
          input: {},
          priority: 'normal',
          no_retry: false,
          start_deadline: null,
        });
      const req = await newReq();
      await q.send(env.id, { request_id: req.id }, 'normal');
      const [d] = await q.receive(env.id, { max: 1, visibilitySeconds: 30, waitMs: 0 });
      await store.requests.startAttempt(req.id, 'runner-1');
      // Held by another runner: nothing completes, so the message stays.
      expect(
        await store.requests.complete(req.id, c, 'runner-2', q.storedMessage(d!.receipt)),
      ).toBeUndefined();
      expect((await q.depth(env.id)).inFlight).toBe(1);
      expect(await store.requests.complete(req.id, c, 'runner-1', q.storedMessage(d!.receipt))).toMatchObject(
        {
          status: 'COMPLETED',
        },
      );
      expect(await q.depth(env.id)).toEqual({ ready: 0, inFlight: 0, deadLettered: 0 });
      // A stale receipt (the message was delivered again) deletes nothing.
      const other = await newReq();
      await q.send(env.id, { request_id: other.id }, 'normal');
      const [first] = await q.receive(env.id, { max: 1, visibilitySeconds: 0, waitMs: 0 });
      await q.receive(env.id, { max: 1, visibilitySeconds: 30, waitMs: 0 });
      await store.requests.startAttempt(other.id, 'runner-1');
      await store.requests.complete(other.id, c, 'runner-1', q.storedMessage(first!.receipt));
      expect((await q.depth(env.id)).inFlight).toBe(1);
      expect(q.storedMessage('not a receipt')).toBeUndefined();
    } finally {
      await q.close();
      await store.close();
    }
  });

  it('takes a request and its message in one statement: delivered with its id and runner hint, by priority', async () => {
    const db = await databaseTargets()[0]!.open();
    const store = new Store(db);
    await store.migrate();
    const q = new StoreQueue(db);
    try {
      const { env } = await appWithRevision(store);
      const make = async (priority: 'normal' | 'low', hint: string | null) => {
        const send = q.storedSend(env.id, priority);
        const req = await store.requests.create(
          {
            environment_id: env.id,
            path: '',
            input: {},
            priority,
            no_retry: false,
            start_deadline: null,
            runner_hint: hint,
          },
          send.row,
        );
        send.sent();
        return req;
      };
      const low = await make('low', null);
      const hinted = await make('normal', 'gpu-7');
      const got = await q.receive(env.id, { max: 5, visibilitySeconds: 30, waitMs: 0 });
      expect(got.map((d) => [d.message, d.priority])).toEqual([
        [{ request_id: hinted.id, hint: 'gpu-7' }, 'normal'],
        [{ request_id: low.id }, 'low'],
      ]);
    } finally {
      await q.close();
      await store.close();
    }
  });
});
