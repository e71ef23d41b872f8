/**
 * Consuming one app environment's SQS queues: receiving (normal before low priority, long poll),
 * extending visibility, releasing and deleting, with batching where SQS allows it. Shared by
 * control's SQS driver and by runners that poll SQS themselves, so both read messages the same way.
 *
 * A receipt is `<queue URL>#<receipt handle>`: whoever holds it can settle the message without
 * knowing which environment or priority it came from (control settles a dead runner's messages).
 */
import {
  ChangeMessageVisibilityBatchCommand,
  ChangeMessageVisibilityCommand,
  DeleteMessageBatchCommand,
  type Message,
  ReceiveMessageCommand,
  type SQSClient,
} from '@aws-sdk/client-sqs';
import { sleep } from './sleep.ts';
import { DEFAULT_SQS_RETRY, type SqsRetryOptions, withSqsRetry } from './sqs-retry.ts';

export interface SqsQueueUrls {
  normal: string;
  low: string;
}

/** What a queue message carries: only the request id (payloads live in control's store). */
export interface SqsMessageBody {
  request_id: string;
}

export interface SqsDelivery {
  receipt: string;
  message: SqsMessageBody;
  receiveCount: number;
  priority: 'normal' | 'low';
}

export interface SqsReceiveOptions {
  max: number;
  visibilitySeconds: number;
  waitMs: number;
  signal?: AbortSignal;
}

/** SQS limits: at most 10 messages per receive or batch call, long polls of at most 20 s. */
const BATCH = 10;
/**
 * While both queues are empty, the normal queue is long-polled in slices this long, then the low
 * queue is looked at: a low-priority request waits at most this long for an idle runner.
 */
const LOW_PRIORITY_CHECK_MS = 2_000;
/** Below a whole second SQS cannot long-poll; short polls this far apart fill the rest. */
const SHORT_POLL_MS = 100;

export function encodeReceipt(queueUrl: string, handle: string): string {
  return `${queueUrl}#${handle}`;
}

export function decodeReceipt(receipt: string): { queueUrl: string; handle: string } | undefined {
  const i = receipt.indexOf('#');
  if (i <= 0 || i === receipt.length - 1) return undefined;
  return { queueUrl: receipt.slice(0, i), handle: receipt.slice(i + 1) };
}

export class SqsConsumer {
  constructor(
    private readonly client: SQSClient,
    private readonly urls: SqsQueueUrls,
    private readonly retry: SqsRetryOptions = DEFAULT_SQS_RETRY,
  ) {}

  /** Up to `max` messages, normal priority first; waits up to `waitMs` while both queues are empty. */
  async receive(o: SqsReceiveOptions): Promise<SqsDelivery[]> {
    const deadline = Date.now() + o.waitMs;
    const max = Math.max(1, Math.min(BATCH, o.max));
    for (;;) {
      const got = await this.receiveFrom('normal', max, o.visibilitySeconds, 0, o.signal);
      if (got.length < max) {
        got.push(...(await this.receiveFrom('low', max - got.length, o.visibilitySeconds, 0, o.signal)));
      }
      const left = deadline - Date.now();
      if (got.length > 0 || left <= 0 || o.signal?.aborted) return got;
      const waitS = Math.floor(Math.min(left, LOW_PRIORITY_CHECK_MS) / 1000);
      if (waitS >= 1) {
        const more = await this.receiveFrom('normal', max, o.visibilitySeconds, waitS, o.signal);
        if (more.length > 0) return more;
      } else {
        await sleep(Math.min(left, SHORT_POLL_MS), o.signal);
      }
    }
  }

  private async receiveFrom(
    priority: 'normal' | 'low',
    max: number,
    visibilitySeconds: number,
    waitSeconds: number,
    signal: AbortSignal | undefined,
  ): Promise<SqsDelivery[]> {
    const queueUrl = this.urls[priority];
    let messages: Message[];
    try {
      const out = await withSqsRetry(
        () =>
          this.client.send(
            new ReceiveMessageCommand({
              QueueUrl: queueUrl,
              MaxNumberOfMessages: max,
              VisibilityTimeout: Math.ceil(visibilitySeconds),
              WaitTimeSeconds: waitSeconds,
              MessageSystemAttributeNames: ['ApproximateReceiveCount'],
            }),
            signal ? { abortSignal: signal } : {},
          ),
        { ...this.retry, ...(signal ? { signal } : {}) },
      );
      messages = out.Messages ?? [];
    } catch (err) {
      // An aborted long poll is the caller hanging up, not a failure.
      if (signal?.aborted) return [];
      throw err;
    }
    const out: SqsDelivery[] = [];
    for (const m of messages) {
      if (!m.ReceiptHandle) continue;
      const receipt = encodeReceipt(queueUrl, m.ReceiptHandle);
      const body = parseBody(m.Body);
      if (!body) {
        // Not ours (someone else wrote to the queue): drop it rather than redeliver it forever.
        await deleteMessages(this.client, [receipt], this.retry);
        continue;
      }
      out.push({
        receipt,
        message: body,
        receiveCount: Number(m.Attributes?.ApproximateReceiveCount ?? 1),
        priority,
      });
    }
    return out;
  }
}

/** Changes the visibility of one message; false when SQS says the receipt is no longer valid. */
export async function changeVisibility(
  client: SQSClient,
  receipt: string,
  seconds: number,
  retry: SqsRetryOptions = DEFAULT_SQS_RETRY,
): Promise<boolean> {
  const r = decodeReceipt(receipt);
  if (!r) return false;
  try {
    await withSqsRetry(
      () =>
        client.send(
          new ChangeMessageVisibilityCommand({
            QueueUrl: r.queueUrl,
            ReceiptHandle: r.handle,
            VisibilityTimeout: Math.ceil(seconds),
          }),
        ),
      retry,
    );
    return true;
  } catch (err) {
    if (isStaleReceipt(err)) return false;
    throw err;
  }
}

/**
 * Extends many messages at once (ChangeMessageVisibilityBatch, ten per call and queue). Returns the
 * receipts SQS refused as no longer valid.
 */
export async function extendMessages(
  client: SQSClient,
  receipts: string[],
  seconds: number,
  retry: SqsRetryOptions = DEFAULT_SQS_RETRY,
): Promise<string[]> {
  const refused: string[] = [];
  for (const [queueUrl, group] of byQueue(receipts)) {
    for (let i = 0; i < group.length; i += BATCH) {
      const slice = group.slice(i, i + BATCH);
      const out = await withSqsRetry(
        () =>
          client.send(
            new ChangeMessageVisibilityBatchCommand({
              QueueUrl: queueUrl,
              Entries: slice.map((s, n) => ({
                Id: String(n),
                ReceiptHandle: s.handle,
                VisibilityTimeout: Math.ceil(seconds),
              })),
            }),
          ),
        retry,
      );
      // A server-side failure of one entry is retried by the next heartbeat; a sender fault is final.
      for (const f of out.Failed ?? []) {
        const entry = slice[Number(f.Id)];
        if (entry && f.SenderFault) refused.push(entry.receipt);
      }
    }
  }
  return refused;
}

/** Deletes messages for good (DeleteMessageBatch, ten per call and queue). */
export async function deleteMessages(
  client: SQSClient,
  receipts: string[],
  retry: SqsRetryOptions = DEFAULT_SQS_RETRY,
): Promise<void> {
  for (const [queueUrl, group] of byQueue(receipts)) {
    for (let i = 0; i < group.length; i += BATCH) {
      const slice = group.slice(i, i + BATCH);
      await withSqsRetry(
        () =>
          client.send(
            new DeleteMessageBatchCommand({
              QueueUrl: queueUrl,
              Entries: slice.map((s, n) => ({ Id: String(n), ReceiptHandle: s.handle })),
            }),
          ),
        retry,
      );
    }
  }
}

/** The client faults that mean "this receipt is stale", which callers treat as an answer, not an error. */
export function isStaleReceipt(err: unknown): boolean {
  const name = (err as { name?: string } | null)?.name;
  return (
    name === 'ReceiptHandleIsInvalid' ||
    name === 'MessageNotInflight' ||
    name === 'InvalidParameterValue' ||
    name === 'QueueDoesNotExist' ||
    name === 'AWS.SimpleQueueService.NonExistentQueue'
  );
}

function byQueue(receipts: string[]): Map<string, { receipt: string; handle: string }[]> {
  const out = new Map<string, { receipt: string; handle: string }[]>();
  for (const receipt of receipts) {
    const r = decodeReceipt(receipt);
    if (!r) continue;
    const group = out.get(r.queueUrl) ?? [];
    group.push({ receipt, handle: r.handle });
    out.set(r.queueUrl, group);
  }
  return out;
}

function parseBody(text: string | undefined): SqsMessageBody | undefined {
  try {
    const v: unknown = JSON.parse(text ?? '');
    if (v && typeof v === 'object' && typeof (v as { request_id?: unknown }).request_id === 'string') {
      return { request_id: (v as { request_id: string }).request_id };
    }
  } catch {
    // Falls through: not a Gantry message.
  }
  return undefined;
}
