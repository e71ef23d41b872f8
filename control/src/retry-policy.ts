/**
 * fal's retry rules for one attempt's outcome. Retried: the app answered 503 or 504, the runner
 * crashed or lost its connection, the attempt ran past request_timeout. Not retried: any other
 * answer (2xx, 3xx, 4xx, 500, 502). At most MAX_ATTEMPTS attempts; `x-fal-no-retry` means one.
 */
import type { AttemptOutcome } from '../../contract/src/runner-protocol.ts';

export const MAX_ATTEMPTS = 10;

/** fal's error_type names for failures that are Gantry's, not the app's answer. */
export const ERROR_TYPES = {
  timeout: 'request_timeout',
  crash: 'runner_disconnected',
  connection_error: 'runner_connection_error',
  cancelled: 'client_cancelled',
  server_error: 'runner_server_error',
} as const;

export interface AttemptVerdict {
  retry: boolean;
  /** Set when the request fails for a reason of Gantry's (not an answer of the app's). */
  errorType: string | null;
  /**
   * The attempt would have been retried but the request is out of attempts: it completes with an
   * error and its message goes to the dead-letter queue. (A no-retry request is not "exhausted":
   * its caller asked for one attempt.)
   */
  exhausted?: true;
}

export function judgeAttempt(a: {
  outcome: AttemptOutcome;
  statusCode?: number | undefined;
  attempts: number;
  noRetry: boolean;
}): AttemptVerdict {
  const canRetry = !a.noRetry && a.attempts < MAX_ATTEMPTS;
  switch (a.outcome) {
    case 'response': {
      const status = a.statusCode ?? 500;
      const retryable = status === 503 || status === 504;
      if (retryable && canRetry) return { retry: true, errorType: null };
      const verdict: AttemptVerdict = {
        retry: false,
        errorType: status >= 500 ? ERROR_TYPES.server_error : null,
      };
      return retryable && exhausted(a) ? { ...verdict, exhausted: true } : verdict;
    }
    case 'cancelled':
      return { retry: false, errorType: ERROR_TYPES.cancelled };
    default: {
      const verdict: AttemptVerdict = { retry: canRetry, errorType: ERROR_TYPES[a.outcome] };
      return exhausted(a) ? { ...verdict, exhausted: true } : verdict;
    }
  }
}

function exhausted(a: { attempts: number; noRetry: boolean }): boolean {
  return !a.noRetry && a.attempts >= MAX_ATTEMPTS;
}
