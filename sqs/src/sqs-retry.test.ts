import { describe, expect, it } from 'vitest';
import { isRetryableSqsError, withSqsRetry } from './sqs-retry.ts';

const awsError = (name: string, fault: 'client' | 'server', status: number) =>
  Object.assign(new Error(name), { name, $fault: fault, $metadata: { httpStatusCode: status } });

describe('SQS retry policy', () => {
  it('retries server faults, throttling and network failures; not client faults', () => {
    expect(isRetryableSqsError(awsError('InternalError', 'server', 500))).toBe(true);
    expect(isRetryableSqsError(awsError('ThrottlingException', 'client', 400))).toBe(true);
    expect(isRetryableSqsError(awsError('RequestThrottled', 'client', 403))).toBe(true);
    expect(isRetryableSqsError(Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' }))).toBe(
      true,
    );
    expect(isRetryableSqsError(awsError('QueueDoesNotExist', 'client', 400))).toBe(false);
    expect(isRetryableSqsError(awsError('InvalidParameterValue', 'client', 400))).toBe(false);
  });

  it('backs off and succeeds once the fault clears; gives up after its attempts', async () => {
    let calls = 0;
    const delays: number[] = [];
    const out = await withSqsRetry(
      async () => {
        calls++;
        if (calls < 4) throw awsError('ThrottlingException', 'client', 400);
        return 'ok';
      },
      { attempts: 6, initialMs: 10, maxMs: 40, onRetry: (_e, _a, d) => delays.push(d) },
    );
    expect(out).toBe('ok');
    expect(calls).toBe(4);
    // Growing steps, each with jitter within [step/2, step], capped.
    expect(delays[0]).toBeGreaterThanOrEqual(5);
    expect(delays[0]).toBeLessThanOrEqual(10);
    expect(delays[2]).toBeLessThanOrEqual(40);

    calls = 0;
    const failing = withSqsRetry(
      async () => {
        calls++;
        throw awsError('InternalError', 'server', 500);
      },
      { attempts: 3, initialMs: 1, maxMs: 2 },
    );
    await expect(failing).rejects.toMatchObject({ name: 'InternalError', $fault: 'server' });
    expect(calls).toBe(3);
  });

  it('surfaces a client fault at once, as the SDK raised it', async () => {
    let calls = 0;
    const failing = withSqsRetry(
      async () => {
        calls++;
        throw awsError('QueueDoesNotExist', 'client', 400);
      },
      { attempts: 5, initialMs: 1, maxMs: 2 },
    );
    await expect(failing).rejects.toMatchObject({ name: 'QueueDoesNotExist', $fault: 'client' });
    expect(calls).toBe(1);
  });
});
