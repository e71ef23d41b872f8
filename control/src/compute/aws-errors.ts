/**
 * Errors from AWS SDK calls, judged by their `name` and `$fault` as the SDK sets them (never by
 * class identity, which breaks across SDK copies). Retrying is not decided here: the client's own
 * retry strategy (ecs-client.ts) has already retried throttling and server faults by the time an
 * error reaches a driver, which only maps what is left to something the user can act on.
 */

export interface AwsErrorShape {
  name: string;
  message: string;
  $fault?: 'client' | 'server';
  $metadata?: { httpStatusCode?: number; requestId?: string; attempts?: number };
}

export function isAwsError(err: unknown): err is AwsErrorShape {
  return err instanceof Error && typeof (err as { name?: unknown }).name === 'string';
}
