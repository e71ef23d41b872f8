/**
 * The compute contract: every ComputeDriver passes these cases (process-compute.contract.test.ts,
 * ecs-compute.contract.test.ts). What a driver promises the scaler: a started runner is running
 * where the infrastructure lists it; however it ends (by itself, drained, killed) its end is reported
 * once, with its id; stop and kill may be repeated or come late; and a revision the driver cannot
 * run is refused up front, named, and not taken for a lack of capacity (which the scaler retries).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Revision } from '../domain.ts';
import {
  type ComputeDriver,
  isSchedulingFailure,
  type RunnerExit,
  type RunnerSpec,
} from './compute-driver.ts';

export interface ComputeUnderTest {
  compute: ComputeDriver;
  /** A revision this driver runs. */
  runnable: Revision;
  /** A revision this driver cannot run (no image for ECS, no command for local processes). */
  unrunnable: Revision;
  /** Whether the infrastructure itself lists the runner as running now (a live process, a task not STOPPED). */
  isRunning(runnerId: string): Promise<boolean>;
  /** Ends a runner from outside the driver, as a crash or an out-of-memory kill would. */
  crash(runnerId: string): Promise<void>;
  close(): Promise<void>;
}

/** Generous: the process driver starts real processes, and the suite must pass on a busy machine. */
const BUDGET_MS = 60_000;

export function computeContract(name: string, open: () => Promise<ComputeUnderTest>): void {
  describe(`compute contract on ${name}`, { timeout: BUDGET_MS }, () => {
    let u: ComputeUnderTest;
    const exits: RunnerExit[] = [];
    const waiting = new Map<string, (e: RunnerExit) => void>();
    beforeAll(async () => {
      u = await open();
      u.compute.onExit((e) => {
        exits.push(e);
        waiting.get(e.runnerId)?.(e);
      });
    }, BUDGET_MS);
    afterAll(async () => {
      await u.close();
    }, BUDGET_MS);

    let n = 0;
    const spec = (revision = u.runnable): RunnerSpec => ({
      runnerId: `runner-${++n}`,
      token: `token-${n}`,
      // Nothing listens there: the contract is about the runner's lifecycle, not its work.
      controlUrl: 'http://127.0.0.1:9',
      environmentId: 'env-contract',
      revision,
      // Drivers whose calls others can read take secrets by reference (ECS), the rest by value.
      ...(u.compute.secretsByReference
        ? {
            env: {},
            secrets: {
              app: {
                GREETING:
                  'arn:aws:secretsmanager:us-east-1:000000000000:secret:gantry/env-contract/GREETING-abcdef',
              },
              runnerKey: {
                value: Buffer.alloc(32, 1).toString('base64url'),
                valueFrom:
                  'arn:aws:secretsmanager:us-east-1:000000000000:secret:gantry/env-contract/gantry-runner-key-abcdef',
              },
            },
          }
        : { env: { GREETING: 'hello' } }),
    });
    /** Resolves with the runner's exit as soon as the driver reports it (or has reported it). */
    const ended = (runnerId: string) =>
      new Promise<RunnerExit>((resolve) => {
        const seen = exits.find((e) => e.runnerId === runnerId);
        if (seen) resolve(seen);
        else waiting.set(runnerId, resolve);
      });
    const exitsOf = (runnerId: string) => exits.filter((e) => e.runnerId === runnerId);

    it('starts a runner that the infrastructure lists as running', async () => {
      const s = spec();
      await u.compute.start(s);
      expect(await u.isRunning(s.runnerId)).toBe(true);
      await u.compute.kill(s.runnerId);
      await ended(s.runnerId);
    });

    it('reports a runner that ended by itself, once, with its id', async () => {
      const s = spec();
      await u.compute.start(s);
      await u.crash(s.runnerId);
      const exit = await ended(s.runnerId);
      expect(exit.runnerId).toBe(s.runnerId);
      expect(exit.schedulingFailure).toBeUndefined();
      expect(await u.isRunning(s.runnerId)).toBe(false);
      // Late orders for a runner that is gone change nothing and report nothing more.
      await u.compute.stop(s.runnerId);
      await u.compute.kill(s.runnerId);
      expect(exitsOf(s.runnerId)).toHaveLength(1);
    });

    it('kill ends a runner, and its end is reported', async () => {
      const s = spec();
      await u.compute.start(s);
      await u.compute.kill(s.runnerId);
      await ended(s.runnerId);
      expect(await u.isRunning(s.runnerId)).toBe(false);
      expect(exitsOf(s.runnerId)).toHaveLength(1);
    });

    it('stop drains a runner until it ends, and its end is reported', async () => {
      const s = spec();
      await u.compute.start(s);
      await u.compute.stop(s.runnerId);
      await ended(s.runnerId);
      expect(await u.isRunning(s.runnerId)).toBe(false);
      expect(exitsOf(s.runnerId)).toHaveLength(1);
    });

    it('stop and kill may be repeated, and are harmless for a runner it never started', async () => {
      const s = spec();
      await u.compute.start(s);
      await u.compute.stop(s.runnerId);
      await u.compute.stop(s.runnerId);
      await u.compute.kill(s.runnerId);
      await u.compute.kill(s.runnerId);
      await ended(s.runnerId);
      await expect(u.compute.stop('runner-never-started')).resolves.toBeUndefined();
      await expect(u.compute.kill('runner-never-started')).resolves.toBeUndefined();
      expect(exitsOf(s.runnerId)).toHaveLength(1);
      expect(exitsOf('runner-never-started')).toHaveLength(0);
    });

    it('refuses a revision it cannot run, naming it, and that is no lack of capacity', async () => {
      const s = spec(u.unrunnable);
      const err = await u.compute.start(s).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(Error);
      expect((err as Error).message).toMatch(new RegExp(`revision ${u.unrunnable.number}\\b`));
      // A capacity failure is retried by the scaler every 20 s; this one must back off instead.
      expect(isSchedulingFailure(err)).toBe(false);
      expect(await u.isRunning(s.runnerId)).toBe(false);
      expect(exitsOf(s.runnerId)).toHaveLength(0);
    });
  });
}
