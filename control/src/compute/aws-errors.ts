/**
 * Errors from AWS SDK calls, judged by their `name` and `$fault` as the SDK sets them (never by
 * class identity, which breaks across SDK copies). Throttling and server faults are transient and
 * retried with a bounded backoff; everything else is for the caller to handle by name.
 */

export interface AwsErrorShape {
  name: string;
  message: string;
  $fault?: 'client' | 'server';
  $metadata?: { httpStatusCode?: number; requestId?: string };
}

const THROTTLING = new Set([
  'ThrottlingException',
  'Throttling',
  'TooManyRequestsException',
  'RequestLimitExceeded',
  'RequestThrottled',
]);

export function isAwsError(err: unknown): err is AwsErrorShape {
  return err instanceof Error && typeof (err as { name?: unknown }).name === 'string';
}

/** Throttling, or a fault on AWS's side (ServerException, 5xx): worth another try. */
export function isTransient(err: unknown): boolean {
  if (!isAwsError(err)) return false;
  if (THROTTLING.has(err.name)) return true;
  const status = err.$metadata?.httpStatusCode;
  return err.$fault === 'server' || (status !== undefined && status >= 500);
}

export interface RetryRules {
  attempts: number;
  baseMs: number;
  maxMs: number;
  sleep: (ms: number) => Promise<void>;
}

/** Runs `call`, retrying transient AWS errors with exponential backoff and full jitter, a few times. */
export async function withAwsRetry<T>(call: () => Promise<T>, rules: RetryRules): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await call();
    } catch (err) {
      if (!isTransient(err) || attempt >= rules.attempts) throw err;
      const cap = Math.min(rules.maxMs, rules.baseMs * 2 ** (attempt - 1));
      await rules.sleep(Math.round(cap / 2 + (Math.random() * cap) / 2));
    }
  }
}
