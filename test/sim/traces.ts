/**
 * Traffic traces: arrival times in seconds, generated from a seeded RNG. Each stands for a shape of
 * load a GPU endpoint meets: steady use, bursts (batch jobs), a day's cycle, and a spike after a
 * long quiet spell (the cold-start case scale-to-zero must survive).
 */
import { type Rng, seededRng } from './rng.ts';

export interface Trace {
  name: string;
  /** Sorted arrival times, seconds from the start. */
  arrivals: number[];
  /** Seconds simulated (the last arrival plus time to wind down). */
  horizon: number;
}

/** Non-homogeneous Poisson arrivals by thinning: rate(t) per second, bounded by maxRate. */
function poisson(rng: Rng, from: number, to: number, maxRate: number, rate: (t: number) => number): number[] {
  const out: number[] = [];
  for (let t = from + rng.exp(1 / maxRate); t < to; t += rng.exp(1 / maxRate)) {
    if (rng.next() < rate(t) / maxRate) out.push(t);
  }
  return out;
}

export function traces(seed = 42, scale = 1): Trace[] {
  const rng = seededRng(seed);
  const hour = 3600 * scale;
  const steady = poisson(rng, 0, hour, 0.5, () => 0.5);

  const bursty: number[] = [];
  for (let start = 120; start < hour; start += 600) {
    // A batch of 40 requests over ~20 s every 10 minutes, with a trickle in between.
    for (let i = 0; i < 40; i++) bursty.push(start + rng.next() * 20);
  }
  bursty.push(...poisson(rng, 0, hour, 0.01, () => 0.01));
  bursty.sort((a, b) => a - b);

  const day = 24 * hour;
  const diurnal = poisson(rng, 0, day, 1, (t) => 0.05 + 0.45 * (1 - Math.cos((2 * Math.PI * t) / day)));

  const quiet = 2 * hour;
  const spike = [...Array.from({ length: 60 }, () => quiet + rng.next() * 10)].sort((a, b) => a - b);

  const tail = 900;
  return [
    { name: 'steady', arrivals: steady, horizon: hour + tail },
    { name: 'bursty', arrivals: bursty, horizon: hour + tail },
    { name: 'diurnal', arrivals: diurnal, horizon: day + tail },
    { name: 'spike-after-idle', arrivals: spike, horizon: quiet + tail },
  ];
}
