/**
 * The production queue: Amazon SQS. Control creates and owns three queues per app environment: the
 * main queue, a low-priority queue and a dead-letter queue that both redrive into. Names are
 * derived from the environment id (a hash, so any id fits SQS's 80-character limit) under a
 * configurable prefix; creating is idempotent, so an existing queue is reused, never duplicated.
 *
 * Messages carry only the request id; payloads live in the store, so any input size works.
 * Receiving and settling go through SqsConsumer, which runners polling SQS directly use too.
 */
import { createHash } from 'node:crypto';
import {
  CreateQueueCommand,
  DeleteQueueCommand,
  GetQueueAttributesCommand,
  GetQueueUrlCommand,
  SendMessageCommand,
  type SQSClient,
} from '@aws-sdk/client-sqs';
import { RUNNER_ENV } from '../../../contract/src/runner-protocol.ts';
import {
  changeVisibility,
  deleteMessages,
  extendMessages,
  SqsConsumer,
  type SqsQueueUrls,
} from '../../../sqs/src/sqs-consumer.ts';
import { DEFAULT_SQS_RETRY, type SqsRetryOptions, withSqsRetry } from '../../../sqs/src/sqs-retry.ts';
import type { Priority } from '../domain.ts';
import type {
  Delivery,
  QueueDepth,
  QueueDriver,
  QueueLabels,
  QueueMessage,
  ReceiveOptions,
} from './queue-driver.ts';

/**
 * Receives before SQS itself dead-letters a message: SQS's largest. Gantry dead-letters a request
 * explicitly when it runs out of its MAX_ATTEMPTS attempts; SQS's redrive is only a backstop, and
 * it must not fire on a message that was merely received often (claims refused while control
 * restarts, or a rollout's candidate waiting for its switch): SQS would move it to the dead-letter
 * queue while the store still holds the request as queued, and nothing would ever run it.
 */
export const MAX_RECEIVE_COUNT = 1000;
/** SQS's longest retention: a request may wait in the queue for as long as SQS allows. */
const RETENTION_SECONDS = '1209600';

interface EnvQueues extends SqsQueueUrls {
  dlq: string;
}

export interface SqsQueueOptions {
  /** Built with `maxAttempts: 1`: sqs-retry.ts is the retry policy. */
  client: SQSClient;
  /** Queue names start with this (letters, digits, `-` and `_`, at most 40 characters). */
  prefix: string;
  retry?: SqsRetryOptions;
}

export class SqsQueue implements QueueDriver {
  private readonly urls = new Map<string, Promise<EnvQueues>>();
  private readonly consumers = new Map<string, SqsConsumer>();
  private readonly retry: SqsRetryOptions;

  constructor(private readonly o: SqsQueueOptions) {
    if (!/^[A-Za-z0-9_-]{1,40}$/.test(o.prefix)) {
      throw new Error(`SQS queue prefix "${o.prefix}" must be 1-40 letters, digits, "-" or "_"`);
    }
    this.retry = o.retry ?? DEFAULT_SQS_RETRY;
  }

  /** The environment's queue names: ≤ 80 characters of [A-Za-z0-9_-] whatever the id. */
  names(envId: string): { normal: string; low: string; dlq: string } {
    const h = createHash('sha256').update(envId).digest('hex').slice(0, 32);
    const base = `${this.o.prefix}-${h}`;
    return { normal: base, low: `${base}-low`, dlq: `${base}-dlq` };
  }

  private call<T>(fn: () => Promise<T>): Promise<T> {
    return withSqsRetry(fn, this.retry);
  }

  async ensure(envId: string, labels?: QueueLabels): Promise<void> {
    this.urls.delete(envId);
    const p = this.create(envId, labels);
    this.urls.set(envId, p);
    p.catch(() => this.urls.delete(envId));
    await p;
  }

  private async create(envId: string, labels?: QueueLabels): Promise<EnvQueues> {
    const names = this.names(envId);
    const tags: Record<string, string> = { 'gantry:environment-id': envId };
    if (labels) {
      tags['gantry:app'] = labels.app;
      tags['gantry:environment'] = labels.environment;
    }
    const dlq = await this.createQueue(names.dlq, { MessageRetentionPeriod: RETENTION_SECONDS }, tags);
    const attrs = await this.call(() =>
      this.o.client.send(new GetQueueAttributesCommand({ QueueUrl: dlq, AttributeNames: ['QueueArn'] })),
    );
    const redrive = JSON.stringify({
      deadLetterTargetArn: attrs.Attributes?.QueueArn,
      maxReceiveCount: String(MAX_RECEIVE_COUNT),
    });
    const main = { MessageRetentionPeriod: RETENTION_SECONDS, RedrivePolicy: redrive };
    const [normal, low] = await Promise.all([
      this.createQueue(names.normal, main, tags),
      this.createQueue(names.low, main, tags),
    ]);
    return { normal, low, dlq };
  }

  /** CreateQueue is idempotent for equal attributes; a queue made with others is reused as it is. */
  private async createQueue(
    name: string,
    attributes: Record<string, string>,
    tags: Record<string, string>,
  ): Promise<string> {
    try {
      const out = await this.call(() =>
        this.o.client.send(new CreateQueueCommand({ QueueName: name, Attributes: attributes, tags })),
      );
      return out.QueueUrl!;
    } catch (err) {
      const n = (err as { name?: string }).name;
      if (n !== 'QueueNameExists' && n !== 'QueueAlreadyExists') throw err;
      const out = await this.call(() => this.o.client.send(new GetQueueUrlCommand({ QueueName: name })));
      return out.QueueUrl!;
    }
  }

  /** The environment's queue URLs (cached); created when missing, unless `create` is false. */
  private async resolve(envId: string, create = true): Promise<EnvQueues | undefined> {
    const known = this.urls.get(envId);
    if (known) return known;
    const p = this.lookup(envId);
    this.urls.set(envId, p);
    try {
      return await p;
    } catch (err) {
      if (this.urls.get(envId) === p) this.urls.delete(envId);
      if (!isMissingQueue(err)) throw err;
      if (!create) return undefined;
      // An environment deployed before the switch to SQS: its queues appear on first use.
      await this.ensure(envId);
      return this.urls.get(envId);
    }
  }

  private async lookup(envId: string): Promise<EnvQueues> {
    const names = this.names(envId);
    const url = async (QueueName: string) => {
      const out = await this.call(() => this.o.client.send(new GetQueueUrlCommand({ QueueName })));
      return out.QueueUrl!;
    };
    const [normal, low, dlq] = await Promise.all([url(names.normal), url(names.low), url(names.dlq)]);
    return { normal, low, dlq };
  }

  private async required(envId: string): Promise<EnvQueues> {
    return (await this.resolve(envId))!;
  }

  async remove(envId: string): Promise<void> {
    const names = this.names(envId);
    this.urls.delete(envId);
    this.consumers.delete(envId);
    for (const QueueName of [names.normal, names.low, names.dlq]) {
      try {
        const { QueueUrl } = await this.call(() => this.o.client.send(new GetQueueUrlCommand({ QueueName })));
        await this.call(() => this.o.client.send(new DeleteQueueCommand({ QueueUrl })));
      } catch (err) {
        if (!isMissingQueue(err)) throw err;
      }
    }
  }

  async send(envId: string, message: QueueMessage, priority: Priority): Promise<void> {
    const q = await this.required(envId);
    await this.call(() =>
      this.o.client.send(
        new SendMessageCommand({
          QueueUrl: priority === 'low' ? q.low : q.normal,
          MessageBody: JSON.stringify(message),
        }),
      ),
    );
  }

  async receive(envId: string, opts: ReceiveOptions): Promise<Delivery[]> {
    let consumer = this.consumers.get(envId);
    if (!consumer) {
      consumer = new SqsConsumer(this.o.client, await this.required(envId), this.retry);
      this.consumers.set(envId, consumer);
    }
    return consumer.receive(opts);
  }

  async extend(receipt: string, visibilitySeconds: number): Promise<boolean> {
    const refused = await extendMessages(this.o.client, [receipt], visibilitySeconds, this.retry);
    return refused.length === 0;
  }

  async release(receipt: string, delaySeconds: number): Promise<void> {
    await changeVisibility(this.o.client, receipt, delaySeconds, this.retry);
  }

  async delete(receipt: string): Promise<boolean> {
    await deleteMessages(this.o.client, [receipt], this.retry);
    return true;
  }

  async deadLetter(envId: string, receipt: string, message: QueueMessage): Promise<void> {
    const q = await this.required(envId);
    await this.call(() =>
      this.o.client.send(new SendMessageCommand({ QueueUrl: q.dlq, MessageBody: JSON.stringify(message) })),
    );
    await deleteMessages(this.o.client, [receipt], this.retry);
  }

  async depth(envId: string): Promise<QueueDepth> {
    const q = await this.resolve(envId, false);
    if (!q) return { ready: 0, inFlight: 0, deadLettered: 0 };
    const count = async (url: string) => {
      const out = await this.call(() =>
        this.o.client.send(
          new GetQueueAttributesCommand({
            QueueUrl: url,
            AttributeNames: ['ApproximateNumberOfMessages', 'ApproximateNumberOfMessagesNotVisible'],
          }),
        ),
      );
      return {
        ready: Number(out.Attributes?.ApproximateNumberOfMessages ?? 0),
        inFlight: Number(out.Attributes?.ApproximateNumberOfMessagesNotVisible ?? 0),
      };
    };
    const [n, l, d] = await Promise.all([count(q.normal), count(q.low), count(q.dlq)]);
    return {
      ready: n.ready + l.ready,
      inFlight: n.inFlight + l.inFlight,
      deadLettered: d.ready + d.inFlight,
    };
  }

  async runnerAccess(envId: string): Promise<Record<string, string>> {
    const q = await this.required(envId);
    return { [RUNNER_ENV.sqsQueueUrl]: q.normal, [RUNNER_ENV.sqsLowQueueUrl]: q.low };
  }

  async close(): Promise<void> {
    this.o.client.destroy();
  }
}

function isMissingQueue(err: unknown): boolean {
  const n = (err as { name?: string } | null)?.name;
  return n === 'QueueDoesNotExist' || n === 'AWS.SimpleQueueService.NonExistentQueue';
}
