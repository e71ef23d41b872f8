/**
 * The scaling policies the simulator compares: Gantry's own autoscale() (the very function control
 * runs), and a KEDA-style baseline as a Kubernetes deployment with the SQS queue scaler would do it.
 */

import { RUNTIME_SETTINGS, type RuntimeSettings } from '../../contract/src/scaling-settings.ts';
import { autoscale } from '../../control/index.ts';

export interface SimRunner {
  id: string;
  state: 'starting' | 'idle' | 'busy';
  createdAt: number;
  lastActiveAt: number | null;
  served: boolean;
}

/** What a policy sees, in seconds. */
export interface PolicyView {
  now: number;
  queued: number;
  inFlight: number;
  oldestQueuedAt: number | null;
  runners: SimRunner[];
  /** Mean cold start and service time measured so far (seconds), as control measures them; null before. */
  measured: { coldStartS: number; serviceS: number } | null;
}

export interface Policy {
  name: string;
  /** Seconds between periodic evaluations. */
  tickS: number;
  /** Also evaluated on every submit and every runner state change (Gantry), or only on ticks (KEDA). */
  reactive: boolean;
  decide(v: PolicyView): { start: number; drain: string[] };
}

export const MAX_CONCURRENCY = 10;

const STATE = { starting: 'SETUP', idle: 'IDLE', busy: 'RUNNING' } as const;

/** Gantry: autoscale() on submit, on runner state changes and on a 1 s tick. */
export function gantryPolicy(name: string, overrides: Partial<RuntimeSettings> = {}): Policy {
  const settings = {
    ...(Object.fromEntries(
      Object.entries(RUNTIME_SETTINGS).map(([k, v]) => [k, v.default]),
    ) as RuntimeSettings),
    max_concurrency: MAX_CONCURRENCY,
    ...overrides,
    max_multiplexing: 1,
    startup_timeout: 300,
  };
  return {
    name,
    tickS: 1,
    reactive: true,
    decide(v) {
      const d = autoscale({
        now: v.now * 1000,
        settings,
        work: { normal: { queued: v.queued, inFlight: v.inFlight }, low: { queued: 0, inFlight: 0 } },
        oldestQueuedAt: v.oldestQueuedAt === null ? null : v.oldestQueuedAt * 1000,
        runners: v.runners.map((r) => ({
          id: r.id,
          state: STATE[r.state],
          inFlight: r.state === 'busy' ? 1 : 0,
          createdAt: r.createdAt * 1000,
          lastActiveAt: r.lastActiveAt === null ? null : r.lastActiveAt * 1000,
          served: r.served,
          drainRequested: false,
        })),
        backoff: null,
        estimates: v.measured && {
          coldStartMs: v.measured.coldStartS * 1000,
          serviceMs: v.measured.serviceS * 1000,
        },
      });
      return { start: d.start, drain: d.drain };
    },
  };
}

/**
 * KEDA's SQS scaler under the HPA: every 30 s (pollingInterval) the metric is visible + in-flight
 * messages; target queueLength 1 per replica (one request per GPU runner, as max_multiplexing 1);
 * activation above 0 messages; scale-down through the HPA's 300 s stabilization window; to zero
 * after 300 s (cooldownPeriod) with no messages. Kept fair: it too drains idle runners only.
 */
export function kedaPolicy(): Policy {
  const history: { t: number; desired: number }[] = [];
  let lastActive = Number.NEGATIVE_INFINITY;
  return {
    name: 'keda-baseline',
    tickS: 30,
    reactive: false,
    decide(v) {
      const metric = v.queued + v.inFlight;
      if (metric > 0) lastActive = v.now;
      const desired = Math.min(MAX_CONCURRENCY, Math.ceil(metric / 1));
      history.push({ t: v.now, desired });
      while (history.length > 0 && history[0]!.t < v.now - 300) history.shift();
      const stabilized = Math.max(...history.map((h) => h.desired));
      const floor = v.now - lastActive < 300 ? 1 : 0;
      const target = Math.max(stabilized, floor);
      const current = v.runners.length;
      if (target > current) return { start: target - current, drain: [] };
      const idle = v.runners.filter((r) => r.state === 'idle').map((r) => r.id);
      return { start: 0, drain: idle.slice(0, Math.max(0, current - target)) };
    },
  };
}
