import { describe, expect, it } from 'vitest';
import { judgeAttempt, MAX_ATTEMPTS } from './retry-policy.ts';

describe('judgeAttempt (fal retry rules)', () => {
  it.each([
    [200, false],
    [302, false],
    [400, false],
    [422, false],
    [500, false],
    [502, false],
    [503, true],
    [504, true],
  ])('an app answer of %i is retried: %s', (statusCode, retry) => {
    expect(judgeAttempt({ outcome: 'response', statusCode, attempts: 1, noRetry: false }).retry).toBe(retry);
  });

  it.each([
    ['timeout', 'request_timeout'],
    ['crash', 'runner_disconnected'],
    ['connection_error', 'runner_connection_error'],
  ] as const)('%s is retried and, when out of attempts, fails as %s', (outcome, errorType) => {
    expect(judgeAttempt({ outcome, attempts: 1, noRetry: false })).toEqual({ retry: true, errorType });
    expect(judgeAttempt({ outcome, attempts: MAX_ATTEMPTS, noRetry: false })).toEqual({
      retry: false,
      errorType,
      exhausted: true,
    });
  });

  it('a 503 on the last attempt is out of attempts (dead-lettered); a 500 never is', () => {
    expect(
      judgeAttempt({ outcome: 'response', statusCode: 503, attempts: MAX_ATTEMPTS, noRetry: false }),
    ).toEqual({ retry: false, errorType: 'runner_server_error', exhausted: true });
    expect(
      judgeAttempt({ outcome: 'response', statusCode: 500, attempts: MAX_ATTEMPTS, noRetry: false })
        .exhausted,
    ).toBeUndefined();
  });

  it('x-fal-no-retry means one attempt', () => {
    expect(judgeAttempt({ outcome: 'response', statusCode: 503, attempts: 1, noRetry: true })).toEqual({
      retry: false,
      errorType: 'runner_server_error',
    });
    expect(judgeAttempt({ outcome: 'crash', attempts: 1, noRetry: true }).retry).toBe(false);
  });

  it('a cancelled attempt is not retried', () => {
    expect(judgeAttempt({ outcome: 'cancelled', attempts: 1, noRetry: false })).toEqual({
      retry: false,
      errorType: 'client_cancelled',
    });
  });
});
