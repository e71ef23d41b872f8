/**
 * The autoscaler: a pure function from what is observed about one environment to what should
 * change. No I/O and no clock of its own, so every case is a row in a table test and the
 * simulator can drive the very same function.
 *
 * Invariants: it never drains a runner that is serving (in_flight > 0 or RUNNING); it never starts
 * more than max_concurrency live runners; min_concurrency and the buffer are kept regardless of
 * scaling_delay, which only holds back scale-ups driven by queued work.
 */
import type { RunnerState } from '../contract/runner-protocol.ts';
import { LIVE_RUNNER_STATES } from '../domain.ts';
import type { RuntimeSettings } from '../scaling-settings.ts';

export interface RunnerObservation {
  id: string;
  state: RunnerState;
  inFlight: number;
  createdAt: number;
  /** When it last finished work or became ready; null while starting. */
  lastActiveAt: number | null;
  drainRequested: boolean;
}

export interface Observation {
  now: number;
  settings: RuntimeSettings & { max_multiplexing: number };
  /** Requests waiting for a runner. */
  queued: number;
  /** Requests being served. */
  inFlight: number;
  /** Arrival time of the oldest queued request, or null when nothing waits. */
  oldestQueuedAt: number | null;
  runners: RunnerObservation[];
  /** Crash backoff: no runner may start before this time. */
  noStartBefore: number | null;
}

export interface Decision {
  start: number;
  drain: string[];
  /** Target number of live runners, for logs and the API. */
  desired: number;
  reason: string;
}

const clamp = (n: number, lo: number, hi: number) => Math.max(lo, Math.min(hi, n));

/** Decide how many runners to start and which idle ones to drain. */
export function autoscale(o: Observation): Decision {
  const s = o.settings;
  const live = o.runners.filter((r) => LIVE_RUNNER_STATES.includes(r.state) && !r.drainRequested);
  const needed = Math.ceil((o.queued + o.inFlight) / Math.max(1, s.max_multiplexing));
  const buffer = Math.max(s.concurrency_buffer, Math.ceil((needed * s.concurrency_buffer_perc) / 100));
  const floor = clamp(buffer, s.min_concurrency, s.max_concurrency);
  const desired = clamp(needed + buffer, s.min_concurrency, s.max_concurrency);

  let start = 0;
  let reason = 'steady';
  if (live.length < desired) {
    const waited = o.oldestQueuedAt === null ? 0 : o.now - o.oldestQueuedAt;
    const demandMayScale = waited >= s.scaling_delay * 1000;
    const target = demandMayScale ? desired : Math.max(floor, Math.min(desired, live.length));
    start = Math.max(0, target - live.length);
    reason = start > 0 ? (live.length === 0 ? 'scale from zero' : 'scale out') : 'waiting for scaling_delay';
    if (start > 0 && o.noStartBefore !== null && o.now < o.noStartBefore) {
      start = 0;
      reason = 'crash backoff';
    }
  }

  const drain: string[] = [];
  let surplus = live.length + start - desired;
  if (surplus > 0) {
    const idleSince = (r: RunnerObservation) => r.lastActiveAt ?? r.createdAt;
    const idle = live
      .filter((r) => r.state === 'IDLE' && r.inFlight === 0 && o.now - idleSince(r) >= s.keep_alive * 1000)
      .sort((a, b) => idleSince(a) - idleSince(b));
    for (const r of idle) {
      if (surplus <= 0) break;
      drain.push(r.id);
      surplus--;
    }
    if (drain.length > 0)
      reason = desired === 0 && drain.length === live.length ? 'scale to zero' : 'scale in';
  }
  return { start, drain, desired, reason };
}
