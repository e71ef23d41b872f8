/**
 * One scaler tick over many apps: the autoscaler's cost per environment must stay small, since
 * control runs it for every environment every GANTRY_TICK_MS. Builds 10,000 observations from a
 * seeded RNG (0 to 20 runners each, some queued work) and times autoscale() over all of them.
 */

import type { RunnerState } from '../../contract/src/runner-protocol.ts';
import { RUNTIME_SETTINGS, type RuntimeSettings } from '../../contract/src/scaling-settings.ts';
import { autoscale, type Observation } from '../../control/index.ts';
import { seededRng } from './rng.ts';

export interface TickCost {
  apps: number;
  runners: number;
  /** Median over the repetitions, milliseconds for the whole tick. */
  tick_ms: number;
  per_app_us: number;
}

const STATES: RunnerState[] = ['SETUP', 'IDLE', 'IDLE', 'RUNNING', 'RUNNING'];

export function manyAppsTick(apps = 10_000, repetitions = 5, seed = 1): TickCost {
  const rng = seededRng(seed);
  const defaults = Object.fromEntries(
    Object.entries(RUNTIME_SETTINGS).map(([k, v]) => [k, v.default]),
  ) as RuntimeSettings;
  const now = 10_000_000;
  const observations: Observation[] = [];
  let runners = 0;
  for (let a = 0; a < apps; a++) {
    const n = Math.floor(rng.next() * 21);
    runners += n;
    const queued = rng.next() < 0.3 ? Math.floor(rng.next() * 30) : 0;
    observations.push({
      now,
      settings: {
        ...defaults,
        max_concurrency: 20,
        max_multiplexing: 1 + Math.floor(rng.next() * 4),
        startup_timeout: 300,
      },
      work: { normal: { queued, inFlight: Math.floor(n / 2) }, low: { queued: 0, inFlight: 0 } },
      oldestQueuedAt: queued > 0 ? now - rng.next() * 5000 : null,
      runners: Array.from({ length: n }, (_, i) => {
        const state = STATES[Math.floor(rng.next() * STATES.length)]!;
        return {
          id: `a${a}r${i}`,
          state,
          inFlight: state === 'RUNNING' ? 1 : 0,
          createdAt: now - rng.next() * 600_000,
          lastActiveAt: state === 'SETUP' ? null : now - rng.next() * 60_000,
          served: rng.next() < 0.8,
          drainRequested: false,
        };
      }),
      backoff: null,
    });
  }
  const times: number[] = [];
  let sink = 0;
  for (let r = 0; r < repetitions; r++) {
    const t0 = performance.now();
    for (const o of observations) sink += autoscale(o).start;
    times.push(performance.now() - t0);
  }
  if (sink < 0) throw new Error('unreachable');
  times.sort((a, b) => a - b);
  const tick = times[Math.floor(times.length / 2)]!;
  return {
    apps,
    runners,
    tick_ms: Math.round(tick * 10) / 10,
    per_app_us: Math.round((tick * 1000 * 10) / apps) / 10,
  };
}
