/**
 * The durable queue between control and runners, shaped after Amazon SQS so the SQS driver and
 * the embedded one are interchangeable. Each app environment has its own queue set (normal and
 * low priority). Messages carry only the request id: payloads live in the store, so a message is
 * always small whatever the input's size.
 *
 * Ownership: control sends; a delivery belongs to whoever received it until its visibility runs
 * out; only the holder extends it (the runner's heartbeat); deleting happens after the result is
 * recorded, so a crash between the two redelivers rather than loses.
 */
import type { SqlClient } from '../../../sql/src/sql-client.ts';
import type { Priority } from '../domain.ts';
import type { StoredSend } from '../store/requests-store.ts';

export interface QueueMessage {
  request_id: string;
  /** x-fal-runner-hint, so whoever receives the message can prefer the hinted runner. */
  hint?: string;
}

export interface Delivery {
  /** Opaque; valid only for this delivery (a redelivery gets a new one). */
  receipt: string;
  message: QueueMessage;
  /** 1 on the first delivery. */
  receiveCount: number;
  priority: Priority;
}

/** A message row of the embedded queue, as a receipt names it (see QueueDriver.storedMessage). */
export interface StoredMessage {
  id: string;
  secret: string;
}

export interface ReceiveOptions {
  max: number;
  visibilitySeconds: number;
  /** Long poll: wait up to this long for a message when none is ready. */
  waitMs: number;
  signal?: AbortSignal;
}

export interface QueueDepth {
  /** Visible now, waiting for a runner. */
  ready: number;
  /** Received and not yet deleted or returned. */
  inFlight: number;
  /** Moved to the dead-letter queue (out of attempts), kept for inspection. */
  deadLettered: number;
}

/** What a queue is tagged with, for whoever looks at it outside Gantry (the AWS console). */
export interface QueueLabels {
  app: string;
  environment: string;
}

export interface QueueDriver {
  /** Creates the environment's queues if missing; idempotent (existing queues are reused). */
  ensure(envId: string, labels?: QueueLabels): Promise<void>;
  /** Deletes the environment's queues and every message in them. */
  remove(envId: string): Promise<void>;
  send(envId: string, message: QueueMessage, priority: Priority): Promise<void>;
  /**
   * Only a queue kept in the store's own database: sends inside the caller's transaction, so the
   * message exists exactly when the rows written beside it do (a crash between the two cannot
   * leave a request without its message). Returns what to run once the transaction committed.
   */
  sendInTransaction?(
    tx: SqlClient,
    envId: string,
    message: QueueMessage,
    priority: Priority,
  ): Promise<() => void>;
  /**
   * Only a queue kept in the store's own database: the message row to insert with the request
   * (RequestsStore.create inserts both in one statement), and what to run once it is committed
   * (waking long polls). The message is `{request_id, hint?}`, written by that statement.
   */
  storedSend?(envId: string, priority: Priority): { row: StoredSend; sent: () => void };
  /**
   * Only a queue kept in the store's own database: the message row a receipt names (undefined when
   * it names none), so the statement that completes its request deletes it too. One statement
   * fewer per request, and one commit: no instant in which a completed request still has a
   * message to redeliver.
   */
  storedMessage?(receipt: string): StoredMessage | undefined;
  /** Normal-priority messages are delivered before low-priority ones. */
  receive(envId: string, opts: ReceiveOptions): Promise<Delivery[]>;
  /** Extends a delivery's visibility; false when the receipt is no longer valid. */
  extend(receipt: string, visibilitySeconds: number): Promise<boolean>;
  /** Makes a delivery visible again after delaySeconds (a retry). */
  release(receipt: string, delaySeconds: number): Promise<void>;
  /**
   * Removes the message for good. false when the driver can tell the receipt is no longer valid;
   * SQS cannot (it accepts stale receipts silently), so nobody relies on it for ownership: the
   * store decides who holds a request.
   */
  delete(receipt: string): Promise<boolean>;
  /** Moves a delivered message to the environment's dead-letter queue (its request is out of attempts). */
  deadLetter(envId: string, receipt: string, message: QueueMessage): Promise<void>;
  depth(envId: string): Promise<QueueDepth>;
  /**
   * Settings a runner needs to receive from the environment's queues itself (RUNNER_ENV names), or
   * undefined when runners take their work through control's pull instead.
   */
  runnerAccess?(envId: string): Promise<Record<string, string>>;
  close(): Promise<void>;
}
