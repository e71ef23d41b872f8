/**
 * Where the runner's jobs come from: control's runner protocol (control-job-source.ts), or Amazon
 * SQS polled directly, with control claiming each message and recording results (sqs-job-source.ts).
 *
 * Ownership: a job is the runner's from `pull` until `complete` resolves; only the runner extends
 * its lease, and it stops doing so for receipts reported as lost.
 */
import type { Job, ResultBody } from '../../contract/src/runner-protocol.ts';

export interface PulledJobs {
  jobs: Job[];
  /** The source wants this runner gone: stop pulling, finish in-flight work, exit. */
  drain: boolean;
}

export interface LeaseUpdate {
  /** Request ids whose callers asked to cancel them. */
  cancel: string[];
  /** Receipts the source no longer recognises: forget them, do not report them. */
  lost: string[];
  drain: boolean;
}

export interface JobSource {
  /** At most `max` jobs; may wait (long-poll) while nothing is queued. */
  pull(max: number, signal: AbortSignal): Promise<PulledJobs>;
  /** Extends the leases of these receipts; also the runner's liveness signal, so sent when idle too. */
  extend(receipts: string[], inFlight: number): Promise<LeaseUpdate>;
  /** Records how an attempt ended. */
  complete(result: ResultBody): Promise<void>;
  /** Whether a failed call may succeed if tried again later (the source restarting, throttling). */
  isRetryable(err: unknown): boolean;
}
