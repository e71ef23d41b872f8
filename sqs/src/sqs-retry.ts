/**
 * Retrying Amazon SQS calls: the error's fault decides. Server faults (5xx), throttling and network
 * failures are retried with bounded exponential backoff and full jitter; client faults (a queue
 * that does not exist, a stale receipt handle, a bad parameter) surface at once with the SDK's own
 * `name` and `$fault`, so callers can tell them apart.
 *
 * Used by control's SQS driver and by runners that poll SQS directly, so both back off alike.
 * The SDK clients are built with `maxAttempts: 1`: this is the one retry policy, not one of two.
 *
 * Why not the SDK's own strategy, as ECS calls use (control/src/compute/ecs-client.ts)? ECS calls
 * are occasional and each stands alone. SQS calls are a loop that never ends: every runner long-polls
 * all the time, and through an SQS outage those polls keep failing. The SDK's standard strategy
 * draws every retry from one budget per client, so failing polls would spend it and leave the
 * deletes and visibility extensions on the same client (what keeps a request from running twice)
 * with no retries at all. Here each call retries on its own terms, the waits end when the caller
 * aborts (a draining runner stops polling at once), and `onRetry` lets the runner log each one.
 */
import { sleep } from './sleep.ts';

/** SQS answers throttling as a client fault (HTTP 400) under one of these names. */
const THROTTLING = new Set([
  'ThrottlingException',
  'Throttling',
  'RequestThrottled',
  'RequestThrottledException',
  'TooManyRequestsException',
  'RequestLimitExceeded',
  'KmsThrottled',
  'SlowDown',
]);

interface AwsErrorShape {
  name?: string;
  $fault?: 'client' | 'server';
  $metadata?: { httpStatusCode?: number };
  $retryable?: unknown;
}

/** True for an SQS failure that may go away by itself. */
export function isRetryableSqsError(err: unknown): boolean {
  if (typeof err !== 'object' || err === null) return false;
  const e = err as AwsErrorShape;
  if (e.name === 'AbortError') return false;
  if (e.$fault === 'server' || e.$retryable) return true;
  if (e.name && THROTTLING.has(e.name)) return true;
  const status = e.$metadata?.httpStatusCode;
  if (status !== undefined) return status >= 500 || status === 429;
  // No answer at all (connection refused or reset, timed out): the service was not reached.
  return e.$fault === undefined;
}

export interface SqsRetryOptions {
  /** Attempts in all, the first included. */
  attempts: number;
  initialMs: number;
  maxMs: number;
  signal?: AbortSignal;
  onRetry?: (err: unknown, attempt: number, delayMs: number) => void;
}

export const DEFAULT_SQS_RETRY: SqsRetryOptions = { attempts: 6, initialMs: 100, maxMs: 2_000 };

/** Calls `fn` until it succeeds, fails with a client fault, or attempts run out (then rethrows). */
export async function withSqsRetry<T>(
  fn: () => Promise<T>,
  options: SqsRetryOptions = DEFAULT_SQS_RETRY,
): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await fn();
    } catch (err) {
      if (attempt >= options.attempts || !isRetryableSqsError(err) || options.signal?.aborted) throw err;
      // Jitter (half to all of the step): runners throttled together spread out instead of retrying in step.
      const cap = Math.min(options.maxMs, options.initialMs * 2 ** (attempt - 1));
      const delay = Math.round(cap / 2 + (Math.random() * cap) / 2);
      options.onRetry?.(err, attempt, delay);
      await sleep(delay, options.signal);
    }
  }
}
