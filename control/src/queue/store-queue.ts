/**
 * The embedded queue: a table in the store. Receiving claims rows with FOR UPDATE SKIP LOCKED and
 * pushes their visibility into the future, exactly as SQS hides a received message. A receipt is
 * `<message id>.<secret>`, the secret drawn anew (gen_random_uuid: the server's strong random source)
 * at each delivery: a receipt from an earlier delivery stops working the moment the message is
 * delivered again, and nobody can name a message they were not handed (runners of every tenant
 * share this table).
 */
import { EventEmitter } from 'node:events';
import type { SqlClient } from '../../../sql/src/sql-client.ts';
import type { Priority } from '../domain.ts';
import type { StoredSend } from '../store/requests-store.ts';
import type {
  Delivery,
  QueueDepth,
  QueueDriver,
  QueueLabels,
  QueueMessage,
  ReceiveOptions,
  StoredMessage,
} from './queue-driver.ts';

const RANK: Record<Priority, number> = { normal: 0, low: 1 };
/** How often a long poll looks again when nothing woke it (messages whose visibility ran out). */
const REPOLL_MS = 200;

function parseReceipt(receipt: string): StoredMessage | undefined {
  const m = /^(\d{1,18})\.([0-9a-f-]{36})$/.exec(receipt);
  return m ? { id: m[1]!, secret: m[2]! } : undefined;
}

export class StoreQueue implements QueueDriver {
  /** Wakes long polls in this process the moment a message is sent. */
  private readonly wake = new EventEmitter();
  /**
   * Queues a claim in this process found empty, and when. Until something is sent or released
   * here, or REPOLL_MS passes (visibility running out, another process sending), a new long poll
   * waits rather than claims: one query fewer per request under steady load. Times here are
   * elapsed time (`performance.now()`), as is the long poll's wait; `clock` is the stored time.
   */
  private readonly emptySince = new Map<string, number>();

  constructor(
    private readonly db: SqlClient,
    private readonly clock: () => number = Date.now,
  ) {
    this.wake.setMaxListeners(0);
  }

  async ensure(_envId: string, _labels?: QueueLabels): Promise<void> {
    // One table holds every queue; there is nothing to create.
  }

  async remove(envId: string): Promise<void> {
    await this.db.query('DELETE FROM queue_messages WHERE queue=$1', [envId]);
  }

  async send(envId: string, message: QueueMessage, priority: Priority): Promise<void> {
    (await this.sendInTransaction(this.db, envId, message, priority))();
  }

  async sendInTransaction(
    tx: SqlClient,
    envId: string,
    message: QueueMessage,
    priority: Priority,
  ): Promise<() => void> {
    const now = this.clock();
    await tx.query(
      'INSERT INTO queue_messages (queue, priority, body, visible_at, created_at) VALUES ($1,$2,$3::jsonb,$4,$4)',
      [envId, RANK[priority], JSON.stringify(message), now],
    );
    // Long polls are woken only after the commit: before it, they could not see the row.
    return () => this.sent(envId);
  }

  /** A message of this queue was committed: long polls here look at once. */
  private sent(envId: string): void {
    this.emptySince.delete(envId);
    this.wake.emit(envId);
  }

  storedMessage(receipt: string): StoredMessage | undefined {
    return parseReceipt(receipt);
  }

  storedSend(envId: string, priority: Priority): { row: StoredSend; sent: () => void } {
    return {
      row: { queue: envId, priority: RANK[priority], visibleAt: this.clock() },
      sent: () => this.sent(envId),
    };
  }

  async receive(envId: string, opts: ReceiveOptions): Promise<Delivery[]> {
    const deadline = performance.now() + opts.waitMs;
    for (;;) {
      const empty = this.emptySince.get(envId);
      const skip = empty !== undefined && performance.now() - empty < REPOLL_MS;
      const got = skip ? [] : await this.claim(envId, opts.max, opts.visibilitySeconds);
      if (!skip && got.length < opts.max) this.emptySince.set(envId, performance.now());
      const left = deadline - performance.now();
      if (got.length > 0 || left <= 0 || opts.signal?.aborted) return got;
      await new Promise<void>((resolve) => {
        const done = () => {
          clearTimeout(timer);
          this.wake.off(envId, done);
          opts.signal?.removeEventListener('abort', done);
          resolve();
        };
        const timer = setTimeout(done, Math.min(left, REPOLL_MS));
        this.wake.on(envId, done);
        opts.signal?.addEventListener('abort', done);
      });
    }
  }

  private async claim(envId: string, max: number, visibilitySeconds: number): Promise<Delivery[]> {
    const now = this.clock();
    const r = await this.db.query<{
      id: string;
      body: QueueMessage;
      receive_count: number;
      priority: number;
      receipt_secret: string;
    }>(
      `WITH picked AS (
         SELECT id FROM queue_messages WHERE queue=$1 AND visible_at <= $2 AND dead_at IS NULL
         ORDER BY priority, id LIMIT $3 FOR UPDATE SKIP LOCKED)
       UPDATE queue_messages q SET visible_at=$4, receive_count=q.receive_count+1,
         receipt_secret=gen_random_uuid()::text
       FROM picked WHERE q.id=picked.id
       RETURNING q.id::text AS id, q.body, q.receive_count, q.priority, q.receipt_secret`,
      [envId, now, max, now + visibilitySeconds * 1000],
    );
    return r.rows
      .sort((a, b) => a.priority - b.priority || Number(a.id) - Number(b.id))
      .map((row) => ({
        receipt: `${row.id}.${row.receipt_secret}`,
        message: row.body,
        receiveCount: row.receive_count,
        priority: row.priority === 0 ? 'normal' : 'low',
      }));
  }

  async extend(receipt: string, visibilitySeconds: number): Promise<boolean> {
    const p = parseReceipt(receipt);
    if (!p) return false;
    const r = await this.db.query(
      'UPDATE queue_messages SET visible_at=$3 WHERE id=$1 AND receipt_secret=$2 AND dead_at IS NULL',
      [p.id, p.secret, this.clock() + visibilitySeconds * 1000],
    );
    return r.rowCount > 0;
  }

  async release(receipt: string, delaySeconds: number): Promise<void> {
    const p = parseReceipt(receipt);
    if (!p) return;
    const r = await this.db.query<{ queue: string }>(
      'UPDATE queue_messages SET visible_at=$3 WHERE id=$1 AND receipt_secret=$2 AND dead_at IS NULL RETURNING queue',
      [p.id, p.secret, this.clock() + delaySeconds * 1000],
    );
    const queue = r.rows[0]?.queue;
    if (queue && delaySeconds === 0) {
      this.emptySince.delete(queue);
      this.wake.emit(queue);
    }
  }

  async delete(receipt: string): Promise<boolean> {
    const p = parseReceipt(receipt);
    if (!p) return false;
    const r = await this.db.query('DELETE FROM queue_messages WHERE id=$1 AND receipt_secret=$2', [
      p.id,
      p.secret,
    ]);
    return r.rowCount > 0;
  }

  async deadLetter(_envId: string, receipt: string, _message: QueueMessage): Promise<void> {
    const p = parseReceipt(receipt);
    if (!p) return;
    // The dead-letter queue is the same table: the row stays, flagged, and is never delivered again.
    await this.db.query('UPDATE queue_messages SET dead_at=$3 WHERE id=$1 AND receipt_secret=$2', [
      p.id,
      p.secret,
      this.clock(),
    ]);
  }

  async depth(envId: string): Promise<QueueDepth> {
    const r = await this.db.query<{ ready: number; in_flight: number; dead: number }>(
      `SELECT COUNT(*) FILTER (WHERE dead_at IS NULL AND visible_at <= $2)::int AS ready,
              COUNT(*) FILTER (WHERE dead_at IS NULL AND visible_at > $2)::int AS in_flight,
              COUNT(*) FILTER (WHERE dead_at IS NOT NULL)::int AS dead
       FROM queue_messages WHERE queue=$1`,
      [envId, this.clock()],
    );
    const row = r.rows[0]!;
    return { ready: Number(row.ready), inFlight: Number(row.in_flight), deadLettered: Number(row.dead) };
  }

  async close(): Promise<void> {
    this.wake.removeAllListeners();
  }
}
