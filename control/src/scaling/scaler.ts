/**
 * The scaler: observes each environment, asks the pure autoscaler what to do, and does it through
 * the compute driver. It runs on every submit (so a request to an environment with no runners
 * starts one at once) and on a steady tick (keep_alive, scale-in, crash recovery).
 *
 * One reconcile per environment at a time: concurrent submits must not both start a runner for
 * the same missing slot.
 */
import { createHash, randomBytes } from 'node:crypto';
import type { FastifyBaseLogger } from 'fastify';
import type { ComputeDriver, RunnerExit } from '../compute/compute-driver.ts';
import type { RequestService } from '../request-service.ts';
import type { Store } from '../store/store.ts';
import { autoscale } from './autoscaler.ts';

/** Crash backoff: +30 s per consecutive failed start, at most 10 minutes (fal's rule). */
export const BACKOFF_STEP_MS = 30_000;
export const BACKOFF_CAP_MS = 600_000;

export const hashToken = (token: string) => createHash('sha256').update(token).digest('hex');

export interface ScalerOptions {
  store: Store;
  compute: ComputeDriver;
  requests: RequestService;
  controlUrl: () => string;
  log: FastifyBaseLogger;
  tickMs: number;
  clock?: () => number;
  backoffStepMs?: number;
  /** Issue 7: the decrypted secrets of an environment, given to each runner it starts as env vars. */
  secretEnv?: (envId: string) => Promise<Record<string, string>>;
}

export class Scaler {
  private readonly running = new Map<string, Promise<void>>();
  private readonly again = new Set<string>();
  private readonly failures = new Map<string, { count: number; until: number }>();
  private readonly pendingExits = new Set<Promise<void>>();
  /**
   * Free request slots per environment as of its last reconcile, less submits since. A submit
   * while slack remains needs no reconcile (the tick still runs); at zero, it reconciles at once.
   */
  private readonly slack = new Map<string, number>();
  private timer: NodeJS.Timeout | undefined;
  private closed = false;

  constructor(private readonly o: ScalerOptions) {
    o.compute.onExit((e) => {
      const p: Promise<void> = this.onRunnerExit(e)
        .catch((err) => o.log.error({ err, runner: e.runnerId }, 'recording runner exit failed'))
        .finally(() => this.pendingExits.delete(p));
      this.pendingExits.add(p);
    });
  }

  private now(): number {
    return (this.o.clock ?? Date.now)();
  }

  start(): void {
    const tick = async () => {
      try {
        const envs = await this.o.store.listActiveEnvironments();
        await Promise.all(envs.map((e) => this.reconcile(e.id)));
      } catch (err) {
        this.o.log.error({ err }, 'scaler tick failed');
      }
      if (!this.closed) this.timer = setTimeout(tick, this.o.tickMs);
    };
    this.timer = setTimeout(tick, this.o.tickMs);
  }

  stop(): void {
    this.closed = true;
    clearTimeout(this.timer);
  }

  /** Waits for the work already under way (exits being recorded, reconciles) to finish. */
  async settle(): Promise<void> {
    while (this.pendingExits.size > 0 || this.running.size > 0) {
      await Promise.allSettled([...this.pendingExits, ...this.running.values()]);
    }
  }

  /** A request was submitted: scale at once unless the environment is known to have room. */
  submitted(envId: string): void {
    const room = this.slack.get(envId) ?? 0;
    if (room > 0) {
      this.slack.set(envId, room - 1);
      return;
    }
    void this.reconcile(envId);
  }

  /** Reconciles one environment now; coalesces calls that arrive while one is running. */
  reconcile(envId: string): Promise<void> {
    const current = this.running.get(envId);
    if (current) {
      this.again.add(envId);
      return current;
    }
    const p = (async () => {
      try {
        do {
          this.again.delete(envId);
          await this.reconcileOnce(envId);
        } while (this.again.has(envId) && !this.closed);
      } catch (err) {
        this.o.log.error({ err, env: envId }, 'reconcile failed');
      } finally {
        this.running.delete(envId);
      }
    })();
    this.running.set(envId, p);
    return p;
  }

  private async reconcileOnce(envId: string): Promise<void> {
    if (this.closed) return;
    const { store } = this.o;
    const env = await store.getEnvironmentById(envId);
    if (!env) return;
    const runners = await store.listRunners(envId);
    const revision = env.active_revision_id ? await store.getRevision(env.active_revision_id) : undefined;
    if (!revision) {
      for (const r of runners) if (!r.drain_requested) await this.drain(r.id);
      return;
    }
    const counts = await store.requestCounts(envId);
    const failure = this.failures.get(envId);
    // What control handed out is authoritative; a runner's own report may lag behind it.
    const held = this.o.requests.inFlightByRunner();
    const decision = autoscale({
      now: this.now(),
      settings: { ...env.scaling, max_multiplexing: revision.settings.max_multiplexing },
      queued: counts.queued,
      inFlight: counts.inProgress,
      oldestQueuedAt: counts.oldestQueuedAt,
      runners: runners.map((r) => ({
        id: r.id,
        state: r.state,
        inFlight: Math.max(r.in_flight, held.get(r.id) ?? 0),
        createdAt: r.created_at,
        lastActiveAt: r.last_active_at,
        drainRequested: r.drain_requested,
      })),
      noStartBefore: failure ? failure.until : null,
    });
    if (decision.start > 0 || decision.drain.length > 0) {
      this.o.log.info({ env: envId, ...decision }, 'scaling');
    }
    const serving = runners.filter((r) => r.state === 'IDLE' || r.state === 'RUNNING').length;
    this.slack.set(envId, serving * revision.settings.max_multiplexing - (counts.queued + counts.inProgress));
    for (const id of decision.drain) await this.drain(id);
    for (let i = 0; i < decision.start; i++) {
      const token = randomBytes(24).toString('base64url');
      const runner = await store.createRunner(envId, revision.id, hashToken(token));
      try {
        await this.o.compute.start({
          runnerId: runner.id,
          token,
          controlUrl: this.o.controlUrl(),
          environmentId: envId,
          revision,
          // Issue 7 (secrets): read at each start, so a restart picks up changed secrets.
          env: (await this.o.secretEnv?.(envId)) ?? {},
        });
      } catch (err) {
        this.o.log.error({ err, runner: runner.id }, 'starting a runner failed');
        await store.setRunnerState(runner.id, 'CRASH_BACKOFF', {
          detail: `start failed: ${(err as Error).message}`,
        });
        this.recordFailure(envId);
      }
    }
  }

  /** Stops a runner the polite way: it finishes what it holds, then exits. */
  async drain(runnerId: string): Promise<void> {
    await this.o.store.requestDrain(runnerId);
    await this.o.store.setRunnerState(runnerId, 'DRAINING');
    await this.o.compute.stop(runnerId);
  }

  async kill(runnerId: string): Promise<void> {
    await this.o.store.requestDrain(runnerId);
    await this.o.compute.kill(runnerId);
  }

  /** A runner that becomes ready clears its environment's crash backoff. */
  runnerReady(envId: string): void {
    this.failures.delete(envId);
  }

  private recordFailure(envId: string): void {
    const count = (this.failures.get(envId)?.count ?? 0) + 1;
    const step = this.o.backoffStepMs ?? BACKOFF_STEP_MS;
    this.failures.set(envId, { count, until: this.now() + Math.min(step * count, BACKOFF_CAP_MS) });
  }

  private async onRunnerExit(e: RunnerExit): Promise<void> {
    const runner = await this.o.store.getRunner(e.runnerId);
    if (!runner) return;
    const failedStart = runner.ready_at === null && !runner.drain_requested;
    const crashed = e.code !== 0 && !runner.drain_requested;
    const detail = crashed
      ? `runner exited with ${e.signal ?? `code ${e.code}`}${e.tail.length ? `: ${e.tail.slice(-5).join(' | ')}` : ''}`
      : null;
    await this.o.store.setRunnerState(e.runnerId, failedStart ? 'CRASH_BACKOFF' : 'TERMINATED', {
      detail,
      in_flight: 0,
    });
    if (failedStart) this.recordFailure(runner.environment_id);
    await this.o.requests.runnerEnded(e.runnerId);
    if (!this.closed) await this.reconcile(runner.environment_id);
  }
}
