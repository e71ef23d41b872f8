/**
 * JobSource over Amazon SQS, polled by the runner itself: control is off the receive path, so a
 * queue of any length costs control nothing until a runner has a message in hand.
 *
 * For each message: long-poll (normal queue before low), ask control to `claim` it (control starts
 * the attempt and hands over the payload from its store), forward, report the result, and delete
 * the message only once control says it recorded the outcome. Visibility is extended in the
 * heartbeat, in batches. Ownership: the runner holds a message from receipt until it deletes or
 * releases it; control decides retries and puts retried messages back itself.
 */
import type { SQSClient } from '@aws-sdk/client-sqs';
import { isRetryableControlError, type RunnerClient } from '../../contract/src/runner-client.ts';
import type { Job, MessageAction } from '../../contract/src/runner-protocol.ts';
import {
  changeVisibility,
  deleteMessages,
  extendMessages,
  SqsConsumer,
  type SqsQueueUrls,
} from '../../sqs/src/sqs-consumer.ts';
import type { JobSource, PulledJobs } from './job-source.ts';
import { sleep } from './retry.ts';
import type { RunnerLog } from './runner-log.ts';

/** Pause after every message received was handed back (see pull). */
const RELEASE_PAUSE_MS = 500;

export interface SqsJobSourceOptions {
  control: RunnerClient;
  sqs: SQSClient;
  urls: SqsQueueUrls;
  /** Visibility of a received message, renewed by heartbeats: control's lease. */
  leaseS: number;
  /** How long one pull may wait for a message. */
  waitMs: number;
  log: RunnerLog;
}

/** Deletes arriving this close together share one DeleteMessageBatch call. */
const DELETE_BATCH_WINDOW_MS = 5;

export function sqsJobSource(o: SqsJobSourceOptions): JobSource {
  const consumer = new SqsConsumer(o.sqs, o.urls);
  const deletes = new DeleteBatcher(o.sqs);

  async function settle(receipt: string, action: MessageAction): Promise<void> {
    if (action === 'delete') await deletes.add(receipt);
    else if (action === 'release') await changeVisibility(o.sqs, receipt, 0);
  }

  return {
    async pull(max, signal): Promise<PulledJobs> {
      const deliveries = await consumer.receive({
        max,
        visibilitySeconds: o.leaseS,
        waitMs: o.waitMs,
        signal,
      });
      const jobs: Job[] = [];
      let drain = false;
      let failure: unknown;
      for (const d of deliveries) {
        try {
          const claim = await o.control.claim({ receipt: d.receipt, request_id: d.message.request_id });
          drain ||= claim.drain;
          if (claim.job) jobs.push(claim.job);
          else await settle(d.receipt, claim.message);
        } catch (err) {
          // Control unreachable: give the message back so it is not hidden for a whole lease.
          failure ??= err;
          await changeVisibility(o.sqs, d.receipt, 0).catch(() => {});
        }
      }
      if (failure !== undefined && jobs.length === 0) throw failure;
      // Every message handed back ("not yet": a rollout's candidate waiting for its switch): pause
      // before receiving again, rather than spin receive → claim → release.
      if (deliveries.length > 0 && jobs.length === 0 && !drain) await sleep(RELEASE_PAUSE_MS, signal);
      return { jobs, drain };
    },

    async extend(receipts, inFlight) {
      let refused: string[] = [];
      try {
        refused = await extendMessages(o.sqs, receipts, o.leaseS);
      } catch (err) {
        // Control still hears from us; the next heartbeat extends again, well within the lease.
        o.log.warn('extending message visibility failed', {
          receipts: receipts.length,
          error: err instanceof Error ? err.message : String(err),
        });
      }
      const update = await o.control.heartbeat({ receipts, in_flight: inFlight, direct: true });
      return { ...update, lost: [...new Set([...update.lost, ...refused])] };
    },

    async complete(result) {
      const answer = await o.control.reportResult({ ...result, direct: true });
      // If this fails the message reappears after its lease, and control's claim says "delete".
      await settle(result.receipt, answer.message ?? 'none').catch((err: unknown) =>
        o.log.warn('settling a message failed; it will be dropped when next received', {
          request_id: result.request_id,
          error: err instanceof Error ? err.message : String(err),
        }),
      );
    },

    isRetryable: isRetryableControlError,
  };
}

/** Collects deletes for a few milliseconds and sends them as batches (ten per call and queue). */
class DeleteBatcher {
  private pending: { receipt: string; done: (err?: unknown) => void }[] = [];
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly sqs: SQSClient) {}

  add(receipt: string): Promise<void> {
    return new Promise((resolve, reject) => {
      this.pending.push({ receipt, done: (err) => (err === undefined ? resolve() : reject(err)) });
      this.timer ??= setTimeout(() => void this.flush(), DELETE_BATCH_WINDOW_MS);
    });
  }

  private async flush(): Promise<void> {
    const batch = this.pending;
    this.pending = [];
    this.timer = undefined;
    try {
      await deleteMessages(
        this.sqs,
        batch.map((b) => b.receipt),
      );
      for (const b of batch) b.done();
    } catch (err) {
      for (const b of batch) b.done(err ?? new Error('delete failed'));
    }
  }
}
