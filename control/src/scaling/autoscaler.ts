/**
 * The autoscaler: a pure function from what is observed about one environment to what should
 * change. No I/O and no clock of its own, so every case is a row in a table test and the
 * simulator drives the very same function.
 *
 * Invariants: it never drains or stops a runner that is serving (in_flight > 0 or RUNNING); it
 * never starts more than max_concurrency live runners; min_concurrency and the buffer are kept
 * regardless of scaling_delay, which only holds back scale-ups driven by queued work; it starts
 * nothing while a backoff runs.
 */
import type { RunnerState } from '../../../contract/src/runner-protocol.ts';
import type { RuntimeSettings } from '../../../contract/src/scaling-settings.ts';
import type { Priority } from '../domain.ts';
import type { Backoff } from './backoff.ts';

/** States in which a runner is still starting and has not yet served. */
const STARTING: RunnerState[] = ['PENDING', 'PULLING', 'SETUP'];
/** States that count as capacity (started or starting, not on the way out). */
const LIVE: RunnerState[] = [...STARTING, 'IDLE', 'RUNNING'];

/** fal's rule: a runner started for work it never got leaves after this, unless min or buffer keep it. */
export const UNUSED_RUNNER_MS = 10_000;

export interface RunnerObservation {
  id: string;
  state: RunnerState;
  inFlight: number;
  createdAt: number;
  /**
   * When its startup_timeout clock started (default createdAt); null: no clock yet, because the
   * compute driver bounds the wait for capacity and the image pull itself.
   */
  startingSince?: number | null;
  /** When it last finished work or became ready; null while starting. */
  lastActiveAt: number | null;
  /** It has served at least one request. */
  served: boolean;
  drainRequested: boolean;
}

/** Requests of one priority: waiting for a runner, and being served. */
export interface Work {
  queued: number;
  inFlight: number;
}

export type PolicySettings = RuntimeSettings & { max_multiplexing: number; startup_timeout: number };

export interface Observation {
  now: number;
  settings: PolicySettings;
  work: Record<Priority, Work>;
  /** Arrival time of the oldest queued request, or null when nothing waits. */
  oldestQueuedAt: number | null;
  /** Runners of the active revision (a rollout's candidate is not capacity yet). */
  runners: RunnerObservation[];
  /** A crash or capacity backoff in force, if any. */
  backoff: Backoff | null;
  /** Measured on this environment (recent cold starts and requests); null until known. */
  estimates?: Estimates | null;
}

export interface Estimates {
  /** Typical time from a runner's start to ready. */
  coldStartMs: number;
  /** Typical time one request takes. */
  serviceMs: number;
}

export interface Decision {
  start: number;
  /** Idle runners to drain: they stop taking work and exit. */
  drain: string[];
  /** Runners stuck starting past startup_timeout: killed, and counted as a failed start. */
  stop: string[];
  /** Target number of live runners, for logs and the API. */
  desired: number;
  reason: string;
}

const clamp = (n: number, lo: number, hi: number) => Math.max(lo, Math.min(hi, n));

/**
 * Desired live runners for this much work, before scaling_delay is considered.
 *
 * Activation (0 → 1) is immediate: any work wants a runner. Scaling out (1 → N) with estimates is
 * paced by the cold start: a runner that starts now is useful only for the work the live runners
 * cannot finish within one cold start, so desired = live + that leftover spread over a cold start,
 * never more than one runner per max_multiplexing requests. Without estimates, one runner per
 * max_multiplexing requests (fal's rule).
 */
export function desiredRunners(
  s: PolicySettings,
  queued: number,
  inFlight: number,
  live = 0,
  estimates: Estimates | null = null,
): { desired: number; floor: number } {
  const mux = Math.max(1, s.max_multiplexing);
  const work = queued + inFlight;
  let needed = Math.ceil(work / mux);
  if (estimates && work > 0 && estimates.coldStartMs > 0) {
    // Runner-ms of work outstanding, plus what keeps arriving during a cold start if the current
    // throughput holds (Little's law: the in-flight count is the arrival rate times the service time).
    const pending = (work * estimates.serviceMs + inFlight * estimates.coldStartMs) / mux;
    const leftover = Math.max(0, pending - live * estimates.coldStartMs);
    needed = Math.max(1, Math.min(needed, live + Math.ceil(leftover / estimates.coldStartMs)));
  }
  const buffer = Math.max(s.concurrency_buffer, Math.ceil((needed * s.concurrency_buffer_perc) / 100));
  // The floor is what is kept with no work at all: min_concurrency, or the buffer alone.
  const floor = clamp(buffer, s.min_concurrency, s.max_concurrency);
  return { desired: clamp(needed + buffer, s.min_concurrency, s.max_concurrency), floor };
}

/** Decide how many runners to start, which idle ones to drain and which stuck ones to stop. */
export function autoscale(o: Observation): Decision {
  const s = o.settings;
  const stop = o.runners
    .filter(
      (r) =>
        STARTING.includes(r.state) &&
        !r.drainRequested &&
        r.startingSince !== null &&
        o.now - (r.startingSince ?? r.createdAt) > s.startup_timeout * 1000,
    )
    .map((r) => r.id);
  const live = o.runners.filter((r) => LIVE.includes(r.state) && !r.drainRequested && !stop.includes(r.id));
  const queued = o.work.normal.queued + o.work.low.queued;
  const inFlight = o.work.normal.inFlight + o.work.low.inFlight;
  const { desired, floor } = desiredRunners(s, queued, inFlight, live.length, o.estimates ?? null);

  let start = 0;
  let reason = stop.length > 0 ? 'startup_timeout' : 'steady';
  if (live.length < desired) {
    const waited = o.oldestQueuedAt === null ? 0 : o.now - o.oldestQueuedAt;
    const demandMayScale = waited >= s.scaling_delay * 1000;
    const target = demandMayScale ? desired : Math.max(floor, Math.min(desired, live.length));
    start = Math.max(0, target - live.length);
    // Activation (0 → 1) and scale-out (1 → N) are told apart in the reason; both use the same target.
    if (start > 0) reason = live.length === 0 ? 'scale from zero' : 'scale out';
    else reason = 'waiting for scaling_delay';
    if (start > 0 && o.backoff !== null && o.now < o.backoff.until) {
      start = 0;
      reason = o.backoff.kind === 'crash' ? 'crash backoff' : 'no capacity: retrying';
    }
    // A stuck start is replaced only after the scaler has recorded it as a failure (next pass).
    if (stop.length > 0) {
      start = 0;
      reason = 'startup_timeout';
    }
  }

  const drain: string[] = [];
  let surplus = live.length + start - desired;
  if (surplus > 0) {
    const keepsWarm = s.min_concurrency > 0 || floor > 0;
    const idleSince = (r: RunnerObservation) => r.lastActiveAt ?? r.createdAt;
    const idleLimit = (r: RunnerObservation) =>
      !r.served && !keepsWarm ? Math.min(UNUSED_RUNNER_MS, s.keep_alive * 1000) : s.keep_alive * 1000;
    const idle = live
      .filter((r) => r.state === 'IDLE' && r.inFlight === 0 && o.now - idleSince(r) >= idleLimit(r))
      .sort((a, b) => idleSince(a) - idleSince(b));
    for (const r of idle) {
      if (surplus <= 0) break;
      drain.push(r.id);
      surplus--;
    }
    if (drain.length > 0)
      reason = desired === 0 && drain.length === live.length ? 'scale to zero' : 'scale in';
  }
  return { start, drain, stop, desired, reason };
}
