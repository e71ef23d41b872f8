/**
 * The queue contract: every QueueDriver passes these cases. Times are real and short, because a
 * real SQS-compatible server has no clock a test can move.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sleep } from '../sleep.ts';
import type { QueueDriver } from './queue-driver.ts';

export interface QueueUnderTest {
  queue: QueueDriver;
  close(): Promise<void>;
}

export function queueContract(name: string, open: () => Promise<QueueUnderTest>): void {
  describe(`queue contract on ${name}`, () => {
    let q: QueueDriver;
    let under: QueueUnderTest;
    beforeAll(async () => {
      under = await open();
      q = under.queue;
    });
    afterAll(async () => {
      await under.close();
    });

    const freshEnv = async () => {
      const env = `env-${randomUUID()}`;
      await q.ensure(env);
      return env;
    };
    const opts = { max: 10, visibilitySeconds: 30, waitMs: 0 };

    it('delivers in order, normal priority before low', async () => {
      const env = await freshEnv();
      await q.send(env, { request_id: 'low-1' }, 'low');
      await q.send(env, { request_id: 'n-1' }, 'normal');
      await q.send(env, { request_id: 'n-2' }, 'normal');
      const got = [];
      for (let i = 0; i < 3 && got.length < 3; i++)
        got.push(...(await q.receive(env, { ...opts, waitMs: 1000 })));
      expect(got.map((d) => d.message.request_id)).toEqual(['n-1', 'n-2', 'low-1']);
      expect(got.map((d) => d.priority)).toEqual(['normal', 'normal', 'low']);
      expect(got.every((d) => d.receiveCount === 1)).toBe(true);
    });

    it('hides a received message until its visibility runs out, then redelivers with a new receipt', async () => {
      const env = await freshEnv();
      await q.send(env, { request_id: 'r1' }, 'normal');
      const [first] = await q.receive(env, { ...opts, visibilitySeconds: 1, waitMs: 1000 });
      expect(first).toBeDefined();
      expect(await q.receive(env, opts)).toEqual([]);
      await sleep(1300);
      const [again] = await q.receive(env, { ...opts, waitMs: 2000 });
      expect(again?.message.request_id).toBe('r1');
      expect(again?.receiveCount).toBe(2);
      expect(again?.receipt).not.toBe(first!.receipt);
      // The latest receipt deletes the message for good. (Whether a stale one is refused is the
      // driver's business: SQS accepts it silently, so ownership lives in the store.)
      expect(await q.delete(again!.receipt)).toBe(true);
      expect(await q.depth(env)).toEqual({ ready: 0, inFlight: 0, deadLettered: 0 });
    });

    it('extends visibility for the holder', async () => {
      const env = await freshEnv();
      await q.send(env, { request_id: 'r1' }, 'normal');
      const [d] = await q.receive(env, { ...opts, visibilitySeconds: 1, waitMs: 1000 });
      expect(await q.extend(d!.receipt, 30)).toBe(true);
      await sleep(1300);
      expect(await q.receive(env, opts)).toEqual([]);
      expect(await q.depth(env)).toEqual({ ready: 0, inFlight: 1, deadLettered: 0 });
    });

    it('release makes a message visible again at once', async () => {
      const env = await freshEnv();
      await q.send(env, { request_id: 'r1' }, 'normal');
      const [d] = await q.receive(env, { ...opts, waitMs: 1000 });
      await q.release(d!.receipt, 0);
      const [again] = await q.receive(env, { ...opts, waitMs: 2000 });
      expect(again?.message.request_id).toBe('r1');
    });

    it('long-polls: a receive waiting on an empty queue gets a message sent meanwhile', async () => {
      const env = await freshEnv();
      // The wait is long (SQS's longest): returning before it ran out shows the send woke the
      // receive, with a margin no busy machine eats. How fast it wakes is the bench's business.
      const waitMs = 20_000;
      const started = Date.now();
      const pending = q.receive(env, { ...opts, waitMs });
      await sleep(200);
      await q.send(env, { request_id: 'late' }, 'normal');
      const got = await pending;
      expect(got.map((d) => d.message.request_id)).toEqual(['late']);
      expect(Date.now() - started).toBeLessThan(waitMs);
    });

    it('an empty long poll returns empty after its wait', async () => {
      const env = await freshEnv();
      const started = Date.now();
      expect(await q.receive(env, { ...opts, waitMs: 300 })).toEqual([]);
      expect(Date.now() - started).toBeGreaterThanOrEqual(250);
    });

    it('never hands one message to two receivers at once', async () => {
      const env = await freshEnv();
      for (let i = 0; i < 20; i++) await q.send(env, { request_id: `m${i}` }, 'normal');
      const batches = await Promise.all(
        Array.from({ length: 5 }, () => q.receive(env, { ...opts, max: 10, waitMs: 500 })),
      );
      const ids = batches.flat().map((d) => d.message.request_id);
      expect(new Set(ids).size).toBe(ids.length);
      let total = ids.length;
      while (total < 20) {
        const more = await q.receive(env, { ...opts, max: 10, waitMs: 500 });
        if (more.length === 0) break;
        total += more.length;
      }
      expect(total).toBe(20);
    });

    it('ensure is idempotent: the existing queues and their messages are kept', async () => {
      const env = await freshEnv();
      await q.send(env, { request_id: 'kept' }, 'normal');
      await q.ensure(env, { app: 'acme/echo', environment: 'production' });
      const got = await q.receive(env, { ...opts, waitMs: 1000 });
      expect(got.map((d) => d.message.request_id)).toEqual(['kept']);
    });

    it('dead-letters a delivered message: never delivered again, counted for inspection', async () => {
      const env = await freshEnv();
      await q.send(env, { request_id: 'poison' }, 'normal');
      await q.send(env, { request_id: 'fine' }, 'normal');
      const [d] = await q.receive(env, { ...opts, max: 1, waitMs: 1000 });
      expect(d?.message.request_id).toBe('poison');
      await q.deadLetter(env, d!.receipt, d!.message);
      const rest = await q.receive(env, { ...opts, visibilitySeconds: 1, waitMs: 1000 });
      expect(rest.map((x) => x.message.request_id)).toEqual(['fine']);
      await q.delete(rest[0]!.receipt);
      expect(await q.depth(env)).toEqual({ ready: 0, inFlight: 0, deadLettered: 1 });
    });

    it('delivers a batch larger than one receive can carry, across calls, each once', async () => {
      const env = await freshEnv();
      for (let i = 0; i < 25; i++) await q.send(env, { request_id: `b${i}` }, i % 5 === 0 ? 'low' : 'normal');
      const seen: string[] = [];
      for (let i = 0; i < 10 && seen.length < 25; i++) {
        for (const d of await q.receive(env, { ...opts, max: 10, waitMs: 500 })) {
          seen.push(d.message.request_id);
          await q.delete(d.receipt);
        }
      }
      expect(new Set(seen).size).toBe(25);
      expect(seen.length).toBe(25);
    });

    it('keeps environments apart and removes one whole', async () => {
      const a = await freshEnv();
      const b = await freshEnv();
      await q.send(a, { request_id: 'a1' }, 'normal');
      await q.send(b, { request_id: 'b1' }, 'normal');
      await q.remove(a);
      expect(await q.depth(a)).toEqual({ ready: 0, inFlight: 0, deadLettered: 0 });
      const got = await q.receive(b, { ...opts, waitMs: 1000 });
      expect(got.map((d) => d.message.request_id)).toEqual(['b1']);
    });
  });
}
