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

/**
 * The layer under the runners on ECS: GPU instances an Auto Scaling group boots for them. An instance
 * is paid for from launch to termination, busy or not; managed scaling terminates one only after it
 * has been empty for the scale-in delay. A warm pool keeps stopped instances that resume faster
 * than a fresh boot and cost no compute while stopped.
 */
export interface InstanceModel {
  /** Runners one instance holds (its GPUs, one GPU a runner). */
  runnersPerInstance: number;
  /** Seconds from launch until the instance takes tasks. */
  bootS: number;
  /** Seconds an instance stays empty before managed scaling terminates it. */
  scaleInDelayS: number;
  /** Stopped instances kept for a fast resume; 0 or absent: none. */
  warmPool?: { size: number; resumeS: number };
}

/** g5.xlarge-like: one GPU; 100 s to boot and join the cluster; scale-in after 15 one-minute data points. */
export const GPU_INSTANCES: InstanceModel = { runnersPerInstance: 1, bootS: 100, scaleInDelayS: 900 };

export interface InstanceRow extends Row {
  instance_hours: number;
  instances_launched: number;
}

interface SimInstance {
  id: number;
  launchedAt: number;
  readyAt: number;
  runners: Set<string>;
  emptySince: number | null;
}

type Event =
  | { t: number; kind: 'arrival' }
  | { t: number; kind: 'tick' }
  | { t: number; kind: 'ready' | 'done'; runner: string }
  | { t: number; kind: 'scale-in'; instance: number };

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

export function simulate(trace: Trace, policy: Policy, model?: Model, seed?: number): Row;
export function simulate(
  trace: Trace,
  policy: Policy,
  model: Model,
  seed: number,
  instances: InstanceModel,
): InstanceRow;
export function simulate(
  trace: Trace,
  policy: Policy,
  model: Model = GPU_MODEL,
  seed = 7,
  fleet?: InstanceModel,
): Row | InstanceRow {
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
  const instances = new Map<number, SimInstance>();
  const hostOf = new Map<string, SimInstance>();
  let instanceSeconds = 0;
  let launched = 0;
  let warm = fleet?.warmPool?.size ?? 0;

  /** The instance a new runner lands on: one with a free slot, else a launch (from the warm pool first). */
  const host = (runnerId: string): SimInstance => {
    let inst = [...instances.values()].find((i) => i.runners.size < fleet!.runnersPerInstance);
    if (!inst) {
      const resume = warm > 0;
      if (resume) warm--;
      launched++;
      inst = {
        id: launched,
        launchedAt: now,
        readyAt: now + (resume ? fleet!.warmPool!.resumeS : fleet!.bootS),
        runners: new Set(),
        emptySince: null,
      };
      instances.set(inst.id, inst);
    }
    inst.runners.add(runnerId);
    inst.emptySince = null;
    hostOf.set(runnerId, inst);
    return inst;
  };
  const terminate = (inst: SimInstance, at: number) => {
    instanceSeconds += at - inst.launchedAt;
    instances.delete(inst.id);
    // Back to the warm pool (stopped) when it has room.
    if (fleet?.warmPool && warm < fleet.warmPool.size) warm++;
  };

  const end = (r: SimRunner) => {
    runnerSeconds += now - r.createdAt;
    runners.delete(r.id);
    const inst = hostOf.get(r.id);
    hostOf.delete(r.id);
    if (inst) {
      inst.runners.delete(r.id);
      if (inst.runners.size === 0) {
        inst.emptySince = now;
        events.push({ t: now + fleet!.scaleInDelayS, kind: 'scale-in', instance: inst.id });
      }
    }
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
      // On instances, the cold start begins once the instance under the runner has booted.
      const from = fleet ? Math.max(now, host(r.id).readyAt) : now;
      events.push({ t: from + model.coldStartS(rng), kind: 'ready', runner: r.id });
    }
  };

  while (events.size > 0) {
    const e = events.pop()!;
    now = e.t;
    if (e.kind === 'arrival') {
      queue.push(now);
      dispatch();
      if (policy.reactive) evaluate();
    } else if (e.kind === 'scale-in') {
      const inst = instances.get(e.instance);
      if (inst && inst.emptySince !== null && now - inst.emptySince >= fleet!.scaleInDelayS)
        terminate(inst, now);
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
  // What is left runs out its scale-in delay, as it would on AWS.
  for (const inst of [...instances.values()])
    terminate(inst, (inst.emptySince ?? now) + fleet!.scaleInDelayS);
  waits.sort((a, b) => a - b);
  const round = (n: number) => Math.round(n * 100) / 100;
  const row: Row = {
    trace: trace.name,
    policy: policy.name,
    runner_seconds: Math.round(runnerSeconds),
    p50_wait_s: round(percentile(waits, 50)),
    p95_wait_s: round(percentile(waits, 95)),
    p99_wait_s: round(percentile(waits, 99)),
    cold_starts: coldStarts,
  };
  if (!fleet) return row;
  return { ...row, instance_hours: round(instanceSeconds / 3600), instances_launched: launched };
}
