import { describe, expect, it } from 'vitest';
import { jobFor } from './attempt-completion.ts';
import type { RequestRecord } from './domain.ts';
import { MAX_ATTEMPTS } from './retry-policy.ts';

/** Only the fields jobFor reads; the rest of a request does not shape its job. */
function started(o: Partial<RequestRecord>): RequestRecord {
  return {
    id: 'req-1',
    path: 'run',
    input: { x: 1 },
    attempts: 1,
    no_retry: false,
    cancel_requested: false,
    ...o,
  } as RequestRecord;
}

const opts = { timeoutS: 30, leaseS: 30, filesUrl: undefined };

describe('jobFor', () => {
  it('marks a job retryable exactly when control would retry its attempt after a lost connection', () => {
    expect(jobFor(started({}), 'r', opts).retryable).toBe(true);
    expect(jobFor(started({ no_retry: true }), 'r', opts).retryable).toBeUndefined();
    expect(jobFor(started({ cancel_requested: true }), 'r', opts).retryable).toBeUndefined();
    expect(jobFor(started({ attempts: MAX_ATTEMPTS }), 'r', opts).retryable).toBeUndefined();
    expect(jobFor(started({ attempts: MAX_ATTEMPTS - 1 }), 'r', opts).retryable).toBe(true);
  });
});
