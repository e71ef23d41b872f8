/**
 * The scaler: observes each environment, asks the pure autoscaler (and, during a rollout, the
 * pure rollout plan) what to do, and does it through the compute driver. It runs on every submit
 * (so a request to an environment with no runners starts one at once) and on a steady tick
 * (keep_alive, scale-in, startup_timeout, crash recovery, rollouts).
 *
 * One reconcile per environment at a time: concurrent submits must not both start a runner for
 * the same missing slot. Inside a process, calls coalesce; between control processes sharing a
 * PostgreSQL database, a lease per environment (environment_leases) decides which one reconciles
 * it. Crash backoff lives in the database too, so every replica honours it.
 */
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import type { FastifyBaseLogger } from 'fastify';
import { RUNNER_ENV } from '../../../contract/src/runner-protocol.ts';
import { RUNTIME_SETTINGS } from '../../../contract/src/scaling-settings.ts';
import { type ComputeDriver, isSchedulingFailure, type RunnerExit } from '../compute/compute-driver.ts';
import type { Environment, Revision, RolloutRecord, RunnerRecord } from '../domain.ts';
import type { Activity } from '../events/activity.ts';
import type { RequestService } from '../request-service.ts';
import type { SecretReferences } from '../secrets/environment-secrets.ts';
import type { Store } from '../store/store.ts';
import { autoscale } from './autoscaler.ts';
import { afterFailure, BACKOFF_RULES, type Backoff, type FailureKind } from './backoff.ts';
import { activeCrashLoop, CRASH_LOOP_AT, crashLoopMessage } from './crash-loop.ts';
import { planRollout } from './rollout-plan.ts';

export const hashToken = (token: string) => createHash('sha256').update(token).digest('hex');

export interface ScalerOptions {
  store: Store;
  compute: ComputeDriver;
  requests: RequestService;
  controlUrl: () => string;
  log: FastifyBaseLogger;
  tickMs: number;
  clock?: () => number;
  /** Crash backoff step (30 s); tests shorten it. */
  backoffStepMs?: number;
  /** The decrypted secrets of an environment, given to each runner it starts as env vars. */
  secretEnv?: (envId: string) => Promise<Record<string, string>>;
  /** The same secrets by reference, for drivers that must not carry values (ECS). */
  secretRefs?: (envId: string) => Promise<SecretReferences>;
  /** Told of every runner state change, rollout step and crash loop (events and metrics). */
  activity?: Activity;
  /** This control process, recorded on the runners it starts; default: a fresh id. */
  controlId?: string;
  /** How long a deploy's first runner may take beyond startup_timeout (the deploy gate's bound). */
  deployGateMarginMs?: number;
}

/**
 * How long an environment's reconcile lease lasts (renewed before each runner start). Short, so a
 * control killed while holding it blocks its peers' scaling of that environment only briefly.
 */
const LEASE_MS = 10_000;
/** How long a reconcile waits for another control's lease on the environment before leaving it to that one. */
const LEASE_WAIT_MS = 2_000;
/** A control not heard of for this long is gone: its runners are adopted. */
export const CONTROL_ALIVE_MS = 15_000;
/** A ready runner of a gone control not heard of for this long is lost (it pulls every 10 s). */
const RUNNER_LOST_MS = 60_000;
/** How often an environment is searched for lost runners. */
const LOST_CHECK_MS = 5_000;
/** How often a control says it is alive (and looks for runners to adopt). */
const BEAT_MS = 2_000;

export class Scaler {
  private readonly running = new Map<string, Promise<void>>();
  private readonly again = new Set<string>();
  /** When each environment was last searched for lost runners (monotonic ms). */
  private readonly lostCheckedAt = new Map<string, number>();
  private lastBeat = Number.NEGATIVE_INFINITY;
  /** Shared database: reconciles are leased per environment (PGlite serves one process only). */
  private readonly leased: boolean;
  readonly controlId: string;
  private readonly pendingExits = new Set<Promise<void>>();
  /**
   * Free request slots per environment as of its last reconcile, less submits since. A submit
   * while slack remains needs no reconcile (the tick still runs); at zero, it reconciles at once.
   */
  private readonly slack = new Map<string, number>();
  private timer: NodeJS.Timeout | undefined;
  private closed = false;

  constructor(private readonly o: ScalerOptions) {
    this.controlId = o.controlId ?? randomUUID();
    this.leased = o.store.db.kind === 'postgres';
    // A step only the infrastructure sees (ECS's image pull): recorded while the runner is PENDING.
    o.compute.onProgress?.((p) => {
      void o.store.runners
        .get(p.runnerId)
        .then((r) =>
          r?.state === 'PENDING' || r?.state === 'PULLING'
            ? o.store.runners.setState(p.runnerId, p.state, { detail: p.detail })
            : undefined,
        )
        .catch((err) => o.log.error({ err, runner: p.runnerId }, 'recording runner progress failed'));
    });
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
        if (performance.now() - this.lastBeat >= BEAT_MS) {
          this.lastBeat = performance.now();
          await this.beat();
        }
        const envs = await this.o.store.apps.listEnvironmentsToReconcile();
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

  /**
   * Says this control is alive, and takes over the runners of controls that are gone (a crash, a
   * rolling upgrade): they keep serving; nothing is drained for a control's start or end.
   */
  async beat(): Promise<void> {
    await this.o.store.controls.beat(this.controlId);
    const adopted = await this.o.store.controls.adoptOrphans(this.controlId, CONTROL_ALIVE_MS);
    if (adopted.length === 0) return;
    this.o.log.info({ runners: adopted }, 'adopted the runners of a control that is gone');
    // Drivers whose runners outlive control (ECS tasks) find the adopted ones, to stop them and
    // hear of their ends; a task no live runner record claims is stopped.
    await this.o.compute.reclaim?.(async (id) => {
      const r = await this.o.store.runners.get(id);
      return r !== undefined && r.ended_at === null;
    });
  }

  /** Whether another control process is alive (it takes over this one's runners when it stops). */
  async othersAlive(): Promise<boolean> {
    if (!this.leased) return false;
    return (await this.o.store.controls.othersAlive(this.controlId, CONTROL_ALIVE_MS)).length > 0;
  }

  /** This control stops: its runners are for the others to adopt at once. */
  async leave(): Promise<void> {
    await this.o.store.controls.leave(this.controlId);
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
          if (!(await this.takeLease(envId))) break;
          try {
            await this.reconcileOnce(envId);
          } finally {
            if (this.leased) await this.o.store.controls.releaseLease(envId, this.controlId);
          }
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

  /**
   * The right to reconcile an environment against other control processes. Another one holding it
   * is reconciling it now; after a short wait this one leaves it to that one (and to the next tick).
   */
  private async takeLease(envId: string): Promise<boolean> {
    if (!this.leased) return true;
    const { controls } = this.o.store;
    const until = performance.now() + LEASE_WAIT_MS;
    for (;;) {
      if (await controls.tryLease(envId, this.controlId, LEASE_MS)) return true;
      if (this.closed || performance.now() >= until) return false;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }

  /** The backoff in force for an environment, for the API and tests. */
  async backoff(envId: string): Promise<Backoff | undefined> {
    return this.o.store.backoffs.get(envId);
  }

  private async reconcileOnce(envId: string): Promise<void> {
    if (this.closed) return;
    const { store } = this.o;
    const rollout = await store.rollouts.getOpen(envId);
    if (rollout) await this.advanceRollout(rollout);

    const env = await store.apps.getEnvironmentById(envId);
    if (!env) return;
    // Off the hot path: a submit's reconcile does not look for lost runners every time.
    const looked = this.lostCheckedAt.get(envId);
    if (looked === undefined || performance.now() - looked >= LOST_CHECK_MS) {
      this.lostCheckedAt.set(envId, performance.now());
      await this.endLost(envId);
    }
    const runners = await store.runners.list(envId);
    const revision = env.active_revision_id ? await store.revisions.get(env.active_revision_id) : undefined;
    const holding = rollout ? ((await store.rollouts.getOpen(envId))?.candidate_runner_id ?? null) : null;
    // Runners of any other revision are on their way out, unless one is the rollout's candidate.
    for (const r of runners) {
      if (r.revision_id !== revision?.id && r.ended_at === null && !r.drain_requested && r.id !== holding) {
        await this.drain(
          r.id,
          revision ? `replaced: revision #${revision.number} is active` : 'its revision is no longer active',
        );
      }
    }
    if (!revision) return;

    let counts = await store.requests.counts(envId);
    const ready = runners.some(
      (r) => r.revision_id === revision.id && (r.state === 'IDLE' || r.state === 'RUNNING'),
    );
    if (counts.queued > 0 && !ready && (await this.failCrashLooping(env, revision))) {
      counts = await store.requests.counts(envId);
    }
    const own = runners.filter((r) => r.revision_id === revision.id && r.ended_at === null);
    const backoff = (await store.backoffs.get(envId)) ?? null;
    // What control handed out is authoritative; a runner's own report may lag behind it.
    const held = this.o.requests.inFlightByRunner();
    const decision = autoscale({
      now: this.now(),
      settings: {
        ...env.scaling,
        max_multiplexing: revision.settings.max_multiplexing,
        startup_timeout: revision.settings.startup_timeout,
      },
      work: counts.byPriority,
      oldestQueuedAt: counts.oldestQueuedAt,
      runners: own.map((r) => ({
        id: r.id,
        state: r.state,
        inFlight: Math.max(r.in_flight, held.get(r.id) ?? 0),
        createdAt: r.created_at,
        startingSince: startingSince(r, this.o.compute.boundsProvisioning === true),
        lastActiveAt: r.last_active_at,
        served: r.history.some((h) => h.state === 'RUNNING'),
        drainRequested: r.drain_requested,
      })),
      backoff,
      estimates: await store.requests.recentTimings(envId),
    });
    if (decision.start > 0 || decision.drain.length > 0 || decision.stop.length > 0) {
      this.o.log.info({ env: envId, ...decision }, 'scaling');
    }
    const serving = own.filter((r) => r.state === 'IDLE' || r.state === 'RUNNING').length;
    this.slack.set(envId, serving * revision.settings.max_multiplexing - (counts.queued + counts.inProgress));
    for (const id of decision.stop) {
      await this.killFailedStart(
        id,
        `did not become healthy within startup_timeout (${revision.settings.startup_timeout} s)`,
      );
      await this.recordFailure(envId, 'crash');
    }
    for (const id of decision.drain) await this.drain(id, `${decision.reason}: idle past keep_alive`);
    // A driver that knows its machine (free GPUs) caps the starts: a full host waits for a runner
    // to end instead of failing starts every 20 s.
    const room = this.o.compute.room?.(revision.settings) ?? Number.POSITIVE_INFINITY;
    if (decision.start > room) {
      this.o.log.info(
        { env: envId, wanted: decision.start, room },
        'scaling held back: no free GPUs for more runners',
      );
    }
    for (let i = 0; i < Math.min(decision.start, room); i++) {
      // A start that outlived the lease must not race a peer that took the environment over.
      if (this.leased && !(await store.controls.tryLease(envId, this.controlId, LEASE_MS))) break;
      const outcome = await this.startRunner(env, revision, undefined, decision.reason);
      if (outcome !== 'started') {
        await this.recordFailure(envId, outcome);
        break;
      }
    }
  }

  /** Carries out the next step of an open rollout. */
  private async advanceRollout(rollout: RolloutRecord): Promise<void> {
    const { store } = this.o;
    const target = await store.revisions.get(rollout.to_revision_id);
    const env = await store.apps.getEnvironmentById(rollout.environment_id);
    if (!target || !env) {
      if (await store.rollouts.end(rollout.id, 'aborted', 'the target revision no longer exists')) {
        this.o.activity?.rollout(await store.rollouts.get(rollout.id));
      }
      return;
    }
    const runners = await store.runners.list(env.id, rollout.created_at);
    const gateMs = target.settings.startup_timeout * 1000 + (this.o.deployGateMarginMs ?? 60_000);
    const step = planRollout(rollout, runners, this.now(), gateMs);
    switch (step.kind) {
      case 'wait':
        return;
      case 'start_candidate': {
        const outcome = await this.startRunner(env, target, rollout.id);
        if (outcome !== 'started') {
          const detail =
            outcome === 'capacity'
              ? 'runner_scheduling_failure: no capacity for the new revision’s first runner'
              : 'the new revision’s first runner could not be started';
          if (await store.rollouts.end(rollout.id, 'aborted', detail)) {
            this.o.activity?.rollout(await store.rollouts.get(rollout.id));
            await this.failUnserved(env.id, target, detail);
          }
        }
        return;
      }
      case 'abort':
        if (step.stopCandidate && rollout.candidate_runner_id) {
          await this.killFailedStart(rollout.candidate_runner_id, 'not healthy within startup_timeout');
        }
        this.o.log.warn({ env: env.id, rollout: rollout.id, detail: step.detail }, 'rollout aborted');
        if (await store.rollouts.end(rollout.id, 'aborted', step.detail)) {
          this.o.activity?.rollout(await store.rollouts.get(rollout.id));
          await this.failUnserved(env.id, target, step.detail);
        }
        return;
      case 'switch':
        if (!(await store.rollouts.end(rollout.id, 'completed', null))) return;
        this.o.activity?.rollout(await store.rollouts.get(rollout.id));
        this.o.log.info({ env: env.id, rollout: rollout.id, drain: step.drain }, 'rollout switched');
        for (const id of step.drain) await this.drain(id, `rollout switched to revision #${target.number}`);
        return;
    }
  }

  /**
   * A failed deploy gate with nothing else to serve (a first deploy): the requests queued for the
   * environment meanwhile will not run, so they fail now with the reason rather than wait.
   */
  private async failUnserved(envId: string, target: Revision, why: string): Promise<void> {
    const env = await this.o.store.apps.getEnvironmentById(envId);
    if (!env || env.active_revision_id !== null) return;
    const error = `Revision #${target.number} failed its deploy gate, and no revision serves: ${why}`;
    const failed = await this.o.store.requests.failQueued(envId, Number.POSITIVE_INFINITY, {
      status: 504,
      error,
      error_type: 'startup_timeout',
    });
    this.o.requests.notify(failed);
  }

  /**
   * The active revision crash-loops: requests that waited longer than its startup_timeout fail
   * with fal's `startup_timeout` rather than wait for a runner that never becomes ready.
   */
  private async failCrashLooping(env: Environment, revision: Revision): Promise<boolean> {
    const loop = await activeCrashLoop(this.o.store, env);
    if (!loop) return false;
    const failed = await this.o.store.requests.failQueued(
      env.id,
      this.now() - revision.settings.startup_timeout * 1000,
      {
        status: 504,
        error: `No runner of revision #${revision.number} became ready within startup_timeout (${revision.settings.startup_timeout} s): ${crashLoopMessage(loop)}`,
        error_type: 'startup_timeout',
      },
    );
    if (failed.length > 0) {
      this.o.log.warn({ env: env.id, failed: failed.length }, 'requests failed: runners crash-loop');
      this.o.requests.notify(failed);
    }
    return failed.length > 0;
  }

  /** Starts one runner of a revision; a rollout's candidate is recorded before it can pull. */
  private async startRunner(
    env: Environment,
    revision: Revision,
    rolloutId?: string,
    why = rolloutId ? 'rollout: first runner of the new revision' : undefined,
  ): Promise<'started' | FailureKind> {
    const { store } = this.o;
    const token = randomBytes(24).toString('base64url');
    const runner = await store.runners.create(env.id, revision.id, hashToken(token), this.controlId);
    this.o.activity?.runnerChanged(runner, why);
    if (rolloutId) await store.rollouts.setCandidate(rolloutId, runner.id);
    try {
      const app = await store.apps.getById(env.app_id);
      await this.o.compute.start({
        runnerId: runner.id,
        token,
        controlUrl: this.o.controlUrl(),
        environmentId: env.id,
        ...(app ? { app: { owner: app.owner, name: app.name, environment: env.name } } : {}),
        revision,
        // Read at each start, so a restart rollout picks up changed secrets.
        ...(this.o.compute.secretsByReference
          ? { env: {}, secrets: await this.secretReferences(env.id) }
          : { env: (await this.o.secretEnv?.(env.id)) ?? {} }),
        drainGraceSeconds:
          env.scaling.termination_grace_period_seconds ??
          RUNTIME_SETTINGS.termination_grace_period_seconds.default,
        // Only the deploy gate's candidate proves the revision with it: scale-ups start cold as usual.
        ...(rolloutId && revision.settings.smoke
          ? { runnerEnv: { [RUNNER_ENV.smoke]: JSON.stringify(revision.settings.smoke) } }
          : {}),
      });
      return 'started';
    } catch (err) {
      const capacity = isSchedulingFailure(err);
      this.o.log.error({ err, runner: runner.id, capacity }, 'starting a runner failed');
      // A runner that could not be placed never ran: TERMINATED with the reason, not a crash.
      const ended = await store.runners.setState(runner.id, capacity ? 'TERMINATED' : 'CRASH_BACKOFF', {
        detail: capacity
          ? `runner_scheduling_failure: ${(err as Error).message}`
          : `start failed: ${(err as Error).message}`,
      });
      this.o.activity?.runnerChanged(ended);
      return capacity ? 'capacity' : 'crash';
    }
  }

  private secretReferences(envId: string): Promise<SecretReferences> {
    if (!this.o.secretRefs)
      throw new Error('this compute driver takes secrets by reference, and none were provided');
    return this.o.secretRefs(envId);
  }

  /** Ends a runner that failed to start in time; the record says why. */
  private async killFailedStart(runnerId: string, why: string): Promise<void> {
    await this.o.store.runners.requestDrain(runnerId);
    this.o.requests.stopServing(runnerId);
    this.o.activity?.runnerChanged(
      await this.o.store.runners.setState(runnerId, 'CRASH_BACKOFF', { detail: why, in_flight: 0 }),
    );
    await this.o.compute.kill(runnerId);
  }

  /** Stops a runner the polite way: it finishes what it holds, then exits. `reason` is kept as its detail. */
  async drain(runnerId: string, reason?: string): Promise<void> {
    await this.o.store.runners.requestDrain(runnerId);
    this.o.requests.stopServing(runnerId);
    this.o.activity?.runnerChanged(
      await this.o.store.runners.setState(runnerId, 'DRAINING', reason ? { detail: reason } : {}),
    );
    await this.o.compute.stop(runnerId);
  }

  async kill(runnerId: string): Promise<void> {
    await this.o.store.runners.requestDrain(runnerId);
    this.o.requests.stopServing(runnerId);
    await this.o.compute.kill(runnerId);
  }

  /** A runner that becomes ready clears its environment's backoff. */
  async runnerReady(envId: string): Promise<void> {
    await this.o.store.backoffs.clear(envId);
  }

  /**
   * Ends the runners nothing will ever report on: ready, silent for a minute, and started by a
   * control that is gone (a live control hears of its own runners' exits from compute).
   */
  private async endLost(envId: string): Promise<void> {
    const now = this.now();
    for (const r of await this.o.store.runners.listLost(
      envId,
      now - RUNNER_LOST_MS,
      now - CONTROL_ALIVE_MS,
    )) {
      await this.o.store.runners.requestDrain(r.id);
      this.o.activity?.runnerChanged(
        await this.o.store.runners.setState(r.id, 'TERMINATED', {
          detail: `lost: not heard of for ${RUNNER_LOST_MS / 1000} s, and the control that started it is gone`,
          in_flight: 0,
        }),
      );
      await this.o.requests.runnerEnded(r.id);
    }
  }

  private async recordFailure(envId: string, kind: FailureKind): Promise<void> {
    const rules = { ...BACKOFF_RULES, crashStepMs: this.o.backoffStepMs ?? BACKOFF_RULES.crashStepMs };
    const next = afterFailure((await this.o.store.backoffs.get(envId)) ?? null, kind, this.now(), rules);
    await this.o.store.backoffs.set(envId, next);
    if (kind === 'crash' && next.crashes >= CRASH_LOOP_AT) {
      this.o.activity?.crashLoop(envId, next.crashes, next.until);
    }
  }

  private async onRunnerExit(e: RunnerExit): Promise<void> {
    const { store } = this.o;
    const runner = await store.runners.get(e.runnerId);
    if (!runner) return;
    const failedStart = runner.ready_at === null && !runner.drain_requested;
    const crashed = e.code !== 0 && !runner.drain_requested;
    const tail = e.tail.length ? `: ${e.tail.slice(-5).join(' | ')}` : '';
    const noCapacity = failedStart && e.schedulingFailure === true;
    // A runner that said itself why it failed to start (its app's last lines, a failed smoke
    // request) said it better than its own log's tail does.
    const ownWord = runner.state === 'CRASH_BACKOFF' && runner.ready_at === null ? runner.detail : null;
    const detail = noCapacity
      ? `runner_scheduling_failure${tail}`
      : (ownWord ?? (crashed ? `runner exited with ${e.signal ?? `code ${e.code}`}${tail}` : null));
    this.o.activity?.runnerChanged(
      await store.runners.setState(e.runnerId, failedStart && !noCapacity ? 'CRASH_BACKOFF' : 'TERMINATED', {
        detail,
        in_flight: 0,
      }),
    );
    // A rollout candidate's failure aborts its rollout; it must not hold back the revision that serves.
    if (failedStart && (await this.isActiveRevision(runner))) {
      await this.recordFailure(runner.environment_id, noCapacity ? 'capacity' : 'crash');
    }
    await this.o.requests.runnerEnded(e.runnerId);
    if (!this.closed) await this.reconcile(runner.environment_id);
  }

  private async isActiveRevision(runner: RunnerRecord): Promise<boolean> {
    const env = await this.o.store.apps.getEnvironmentById(runner.environment_id);
    return env?.active_revision_id === runner.revision_id;
  }
}

/**
 * Where a starting runner's startup_timeout clock starts, or null when it runs no clock. Where the
 * driver bounds the wait for capacity (ECS), waiting for an instance and pulling the image are not
 * the app's startup: the clock starts when the runner reports SETUP, from inside its task.
 */
function startingSince(r: RunnerRecord, boundsProvisioning: boolean): number | null {
  if (!boundsProvisioning) return r.created_at;
  const setup = r.history.find((h) => h.state === 'SETUP');
  return setup ? setup.at : null;
}
