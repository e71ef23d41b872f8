/**
 * A discrete-event simulation of one endpoint: requests arrive from a trace, queue, and are served
 * one at a time by runners that take a cold start to become ready. A policy decides when runners
 * start and which idle ones go. Measures cost (runner-seconds, cold start included: the GPU is paid
 * for while the model loads) and queue wait (arrival to start of service).
 */
import type { Policy, SimRunner } from './policies.ts';
import { type Rng, seededRng } from './rng.ts';
import type { Trace } from './traces.ts';

export interface Model {
  /** Seconds from start to ready (image pull + model load). */
  coldStartS(rng: Rng): number;
  /** Seconds one request takes on a ready runner. */
  serviceS(rng: Rng): number;
}

/** A GPU model: ~20 s to load weights, ~2 s per inference. */
export const GPU_MODEL: Model = {
  coldStartS: (rng) => 15 + rng.next() * 10,
  serviceS: (rng) => 0.5 + rng.exp(1.5),
};

export interface Row {
  trace: string;
  policy: string;
  runner_seconds: number;
  p50_wait_s: number;
  p95_wait_s: number;
  p99_wait_s: number;
  cold_starts: number;
}

type Event =
  | { t: number; kind: 'arrival' }
  | { t: number; kind: 'tick' }
  | { t: number; kind: 'ready' | 'done'; runner: string };

/** A binary min-heap on event time; ties keep insertion order. */
class EventQueue {
  private readonly heap: { e: Event; seq: number }[] = [];
  private seq = 0;
  get size(): number {
    return this.heap.length;
  }
  push(e: Event): void {
    const h = this.heap;
    h.push({ e, seq: this.seq++ });
    for (let i = h.length - 1; i > 0; ) {
      const p = (i - 1) >> 1;
      if (!this.less(i, p)) break;
      [h[i], h[p]] = [h[p]!, h[i]!];
      i = p;
    }
  }
  pop(): Event | undefined {
    const h = this.heap;
    const top = h[0];
    const last = h.pop();
    if (h.length > 0 && last) {
      h[0] = last;
      for (let i = 0; ; ) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < h.length && this.less(l, m)) m = l;
        if (r < h.length && this.less(r, m)) m = r;
        if (m === i) break;
        [h[i], h[m]] = [h[m]!, h[i]!];
        i = m;
      }
    }
    return top?.e;
  }
  private less(a: number, b: number): boolean {
    const x = this.heap[a]!;
    const y = this.heap[b]!;
    return x.e.t < y.e.t || (x.e.t === y.e.t && x.seq < y.seq);
  }
}

export function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return 0;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[i]!;
}

export function simulate(trace: Trace, policy: Policy, model: Model = GPU_MODEL, seed = 7): Row {
  const rng = seededRng(seed);
  const events = new EventQueue();
  for (const t of trace.arrivals) events.push({ t, kind: 'arrival' });
  events.push({ t: 0, kind: 'tick' });

  const runners = new Map<string, SimRunner>();
  const queue: number[] = [];
  const waits: number[] = [];
  let inFlight = 0;
  let runnerSeconds = 0;
  let coldStarts = 0;
  let nextId = 0;
  let now = 0;
  // What control measures: cold starts (PENDING → IDLE) and request durations.
  const sums = { cold: 0, coldN: 0, service: 0, serviceN: 0 };
  const started = new Map<string, number>();

  const end = (r: SimRunner) => {
    runnerSeconds += now - r.createdAt;
    runners.delete(r.id);
  };
  const dispatch = () => {
    while (queue.length > 0) {
      // The most recently active idle runner takes work (same rule for every policy): others stay idle and can go.
      let pick: SimRunner | undefined;
      for (const r of runners.values()) {
        if (r.state === 'idle' && (!pick || (r.lastActiveAt ?? 0) > (pick.lastActiveAt ?? 0))) pick = r;
      }
      if (!pick) return;
      const arrival = queue.shift()!;
      waits.push(now - arrival);
      pick.state = 'busy';
      inFlight++;
      started.set(pick.id, now);
      events.push({ t: now + model.serviceS(rng), kind: 'done', runner: pick.id });
    }
  };
  const evaluate = () => {
    const d = policy.decide({
      now,
      queued: queue.length,
      inFlight,
      oldestQueuedAt: queue[0] ?? null,
      runners: [...runners.values()],
      measured:
        sums.coldN > 0 && sums.serviceN > 0
          ? { coldStartS: sums.cold / sums.coldN, serviceS: sums.service / sums.serviceN }
          : null,
    });
    for (const id of d.drain) {
      const r = runners.get(id);
      if (r && r.state === 'idle') end(r);
    }
    for (let i = 0; i < d.start; i++) {
      const r: SimRunner = {
        id: `r${nextId++}`,
        state: 'starting',
        createdAt: now,
        lastActiveAt: null,
        served: false,
      };
      runners.set(r.id, r);
      coldStarts++;
      events.push({ t: now + model.coldStartS(rng), kind: 'ready', runner: r.id });
    }
  };

  while (events.size > 0) {
    const e = events.pop()!;
    now = e.t;
    if (e.kind === 'arrival') {
      queue.push(now);
      dispatch();
      if (policy.reactive) evaluate();
    } else if (e.kind === 'tick') {
      evaluate();
      const busy = queue.length > 0 || inFlight > 0 || runners.size > 0;
      // Past the horizon, tick only while something is left to wind down (bounded, whatever the policy).
      if (now < trace.horizon || (busy && now < trace.horizon + 86_400))
        events.push({ t: now + policy.tickS, kind: 'tick' });
    } else {
      const r = runners.get(e.runner);
      if (!r) continue;
      if (e.kind === 'done') {
        inFlight--;
        r.served = true;
        sums.service += now - (started.get(r.id) ?? now);
        sums.serviceN++;
      } else {
        sums.cold += now - r.createdAt;
        sums.coldN++;
      }
      r.state = 'idle';
      r.lastActiveAt = now;
      dispatch();
      if (policy.reactive) evaluate();
    }
  }
  for (const r of [...runners.values()]) end(r);
  waits.sort((a, b) => a - b);
  const round = (n: number) => Math.round(n * 100) / 100;
  return {
    trace: trace.name,
    policy: policy.name,
    runner_seconds: Math.round(runnerSeconds),
    p50_wait_s: round(percentile(waits, 50)),
    p95_wait_s: round(percentile(waits, 95)),
    p99_wait_s: round(percentile(waits, 99)),
    cold_starts: coldStarts,
  };
}
