/**
 * Fault: two control processes on one PostgreSQL and SQS (fauxqs) behind a round-robin proxy, one SIGKILLed and
 * started again under load (the scenario lives in test/support/replica-fault.ts, which
 * `npm run bench -- --replicas` runs too).
 *
 * Every call gets its own result, each request runs and completes once, no environment ever has
 * more runners than max_concurrency, and no runner is drained: the runners of the killed control
 * keep serving through its peer, and the restarted control takes them over without a drain.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  DEFAULT_DATABASE_URL,
  describeReplicaFigures,
  type ReplicaFault,
  startReplicaFault,
} from '../support/replica-fault.ts';

const CALLS = 400;
const CALLERS = 32;
const MAX_CONCURRENCY = 3;

describe('two control processes, one killed and restarted under load', () => {
  let fault: ReplicaFault;

  beforeAll(async () => {
    fault = await startReplicaFault({
      // SQS, as installed on AWS: its redeliveries are what a crash makes risky (the embedded queue
      // runs the same scenario in `npm run bench -- --replicas`).
      queue: 'sqs',
      databaseUrl: process.env.DATABASE_URL ?? DEFAULT_DATABASE_URL,
      calls: CALLS,
      callers: CALLERS,
      maxConcurrency: MAX_CONCURRENCY,
    });
  }, 240_000);

  afterAll(async () => {
    await fault?.close();
  }, 120_000);

  it('answers every call once with its own result, within max_concurrency, draining nothing', async () => {
    const f = await fault.run();
    console.log(describeReplicaFigures(f, MAX_CONCURRENCY));

    expect(f.completed).toBe(CALLS);
    expect(f.lost).toBe(0);
    expect(f.duplicated).toBe(0);
    expect(f.extraRunners).toBe(0);
    expect(f.drained).toEqual([]);
    // The runners that served before the kill serve still.
    expect(f.goneSinceKill).toEqual([]);
    expect(f.orphaned).toBeGreaterThan(0);
  }, 300_000);
});
