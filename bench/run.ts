/**
 * `npm run bench`: the request path's figures on this machine, printed as a table (and as JSON
 * with --json), with the load average at the start. Goals, not tests: warm overhead over a direct
 * call to the app p50 ≤ 1 ms and p99 ≤ 5 ms on a quiet machine; ≥ 2,000 requests/s through one
 * control with PostgreSQL; hello's cold start under 1.5 s, and its own start (spawn → healthy)
 * under 1.5 s.
 *
 *   cold start   request → result with zero runners (runner + app start, setup, the request)
 *   sequential   N requests one after another: through Gantry (POST /run) vs straight to the app,
 *                and where a Gantry request's time goes, stage by stage (bench/stages.ts)
 *   concurrent   N requests at once: the same two paths, plus requests per second
 *   first event  a streaming endpoint (hello's /stream, fal.stream's call): request → first
 *                server-sent event, through Gantry (runner and control relay it) vs direct
 *   queues       the warm round trip and requests per second through the embedded queue and
 *                through SQS (fauxqs on loopback, runners polling it directly), then the same
 *                right after a runner is SIGKILLed (its work retried, a replacement starting)
 *   containers   hello as an image under the container driver (bench/containers.ts): the first
 *                request with its pull, cold starts, warm overhead (--containers-only, --no-containers)
 *   replicas     --replicas only (needs DATABASE_URL): two controls on one PostgreSQL behind a
 *                round-robin proxy, one SIGKILLed under load (test/support/replica-fault.ts):
 *                requests, completed, lost, duplicated, extra runners
 */

import { loadavg } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import { ControlApiClient } from '../contract/src/control-client.ts';
import { eventually, startTestControl, type TestControl } from '../test/support/control.ts';
import type { QueueKind } from '../test/support/queues.ts';
import {
  describeReplicaFigures,
  type ReplicaFigures,
  startReplicaFault,
} from '../test/support/replica-fault.ts';
import { busyFigures, printBusy } from './busy-machine.ts';
import { containerFigures, printContainerFigures } from './containers.ts';
import { startDirectApp, startFleet } from './fleet.ts';
import { printSoak, soakFigures } from './soak.ts';
import { printStages, traceStages } from './stages.ts';
import { printThroughput, throughputFigures } from './throughput.ts';

const { values: args } = parseArgs({
  options: {
    n: { type: 'string', default: '1000' },
    cold: { type: 'string', default: '3' },
    json: { type: 'boolean', default: false },
    /** Use the PostgreSQL at DATABASE_URL instead of the embedded PGlite. */
    postgres: { type: 'boolean', default: false },
    /** Only the embedded-vs-SQS comparison. */
    'queues-only': { type: 'boolean', default: false },
    /** Only the container driver's figures (podman, buildah, skopeo, docker-registry). */
    'containers-only': { type: 'boolean', default: false },
    /** Skip the container driver's figures. */
    'no-containers': { type: 'boolean', default: false },
    /**
     * Only the two-replica fault (test/support/replica-fault.ts): two controls on the PostgreSQL
     * at DATABASE_URL, one SIGKILLed under load; requests, completed, lost, duplicated, extra runners.
     */
    replicas: { type: 'boolean', default: false },
    /** Only the throughput table (PGlite, and PostgreSQL with --postgres; embedded and SQS). */
    'throughput-only': { type: 'boolean', default: false },
    /** Throughput with 10,000 requests too, beside 1,000. */
    '10k': { type: 'boolean', default: false },
    /** Requests in flight at once in the throughput table. */
    'in-flight': { type: 'string', default: '32' },
    /** Control's RSS over a steady load at half the peak rate for this many minutes (0: none). */
    soak: { type: 'string', default: '0' },
  },
});
if (args.replicas && !process.env.DATABASE_URL) {
  console.error('bench: --replicas needs DATABASE_URL (e.g. postgres://postgres@127.0.0.1:5432/test)');
  process.exit(2);
}
if (args.postgres && !process.env.DATABASE_URL) {
  console.error('bench: --postgres needs DATABASE_URL (e.g. postgres://postgres@127.0.0.1:5432/test)');
  process.exit(2);
}
const N = Number(args.n);
const COLD_RUNS = Number(args.cold);
const IN_FLIGHT = Number(args['in-flight']);
const SOAK_MINUTES = Number(args.soak);
const COUNTS = args['10k'] ? [1000, 10_000] : [1000];

interface Stats {
  p50_ms: number;
  p99_ms: number;
  mean_ms: number;
}
const stats = (xs: number[]): Stats => {
  const s = [...xs].sort((a, b) => a - b);
  const at = (q: number) => s[Math.min(s.length - 1, Math.floor(q * s.length))]!;
  return { p50_ms: at(0.5), p99_ms: at(0.99), mean_ms: s.reduce((a, b) => a + b, 0) / s.length };
};
const round = (n: number) => Math.round(n * 100) / 100;

async function timed(call: () => Promise<Response>): Promise<number> {
  const t = performance.now();
  const res = await call();
  const body = await res.text();
  if (!res.ok) {
    throw new Error(
      `HTTP ${res.status} (${res.headers.get('x-fal-error-type') ?? 'no error type'}): ${body.slice(0, 300)}`,
    );
  }
  return performance.now() - t;
}

/** Requests that failed, by phase: reported, not fatal (a run on a loaded machine still says something). */
const FAILED: Record<string, { count: number; first: string }> = {};
/** timed(), but a failure is counted under `phase` and tried again, up to 3 times. */
async function timedOrCount(phase: string, call: () => Promise<Response>): Promise<number> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await timed(call);
    } catch (err) {
      FAILED[phase] ??= { count: 0, first: err instanceof Error ? err.message : String(err) };
      FAILED[phase].count++;
      if (attempt >= 3) throw err;
    }
  }
}

const body = JSON.stringify({ name: 'Ada' });
const json = { 'content-type': 'application/json' };

/** Milliseconds from sending a streaming call to its first event's bytes; the rest is drained. */
async function firstEvent(url: string): Promise<number> {
  const t = performance.now();
  const res = await fetch(url, {
    method: 'POST',
    headers: { ...json, accept: 'text/event-stream' },
    body: JSON.stringify({ name: 'Ada Lovelace' }),
  });
  if (!res.ok || !res.body) throw new Error(`HTTP ${res.status}: ${(await res.text()).slice(0, 300)}`);
  const reader = res.body.getReader();
  const first = await reader.read();
  const ms = performance.now() - t;
  if (first.done) throw new Error('the stream ended before its first event');
  while (!(await reader.read()).done) {}
  return ms;
}

const HELLO = { owner: 'bench', name: 'hello', env: 'production' };
/** The management API as every Gantry client calls it: the contract's typed client. */
const adminClient = (c: TestControl) => new ControlApiClient({ url: c.url, key: c.adminKey });

async function liveRunners(c: TestControl): Promise<number> {
  const runners = await adminClient(c).listRunners(HELLO);
  return runners.filter((r) => !['TERMINATED', 'CRASH_BACKOFF'].includes(r.state)).length;
}

interface QueueFigures {
  sequential: Stats;
  concurrent: Stats & { rps: number };
}

/** Submits to the queue, polls until completed and checks the result: the retrying path. */
async function viaQueue(url: string): Promise<void> {
  const sub = await fetch(`${url}/queue/bench/hello`, { method: 'POST', body, headers: json });
  if (!sub.ok) throw new Error(`submit: HTTP ${sub.status}: ${await sub.text()}`);
  const { request_id } = (await sub.json()) as { request_id: string };
  for (let i = 0; i < 1200; i++) {
    const st = (await (await fetch(`${url}/queue/bench/hello/requests/${request_id}/status`)).json()) as {
      status: string;
    };
    if (st.status === 'COMPLETED') {
      const res = await fetch(`${url}/queue/bench/hello/requests/${request_id}`);
      if (!res.ok) throw new Error(`request ${request_id}: HTTP ${res.status}: ${await res.text()}`);
      return;
    }
    await sleep(50);
  }
  throw new Error(`request ${request_id} did not complete within 60 s`);
}

/** One queue driver: warm, then measured; a runner killed; measured again while it is replaced. */
async function queueFigures(kind: QueueKind): Promise<{ warm: QueueFigures; after_kill: QueueFigures }> {
  const fleet = await startFleet({
    postgres: args.postgres,
    queue: kind,
    env: { GANTRY_LEASE_SECONDS: '10' },
    maxConcurrency: 3,
  });
  const { control } = fleet;
  try {
    const run = () => fetch(`${control.url}/run/bench/hello`, { method: 'POST', body, headers: json });
    const measure = async (): Promise<QueueFigures> => {
      const seq: number[] = [];
      for (let i = 0; i < Math.min(N, 500); i++) seq.push(await timed(run));
      const t = performance.now();
      const times = await Promise.all(Array.from({ length: N }, () => timed(run)));
      const rps = Math.round(N / ((performance.now() - t) / 1000));
      return { sequential: mapRound(stats(seq)), concurrent: { ...mapRound(stats(times)), rps } };
    };
    const warm = await measure();
    // Kill a runner with work in flight: a burst keeps both busy, then one dies mid-burst.
    const runners = await adminClient(control).listRunners(HELLO);
    const victim = runners.find((r) => r.state === 'IDLE' || r.state === 'RUNNING')!;
    // Through the queue API: requests on the killed runner are retried there (a sync /run is not,
    // as on fal), and every one must still complete.
    const burst = Promise.all(Array.from({ length: 200 }, () => viaQueue(control.url)));
    await sleep(50);
    await control.service.compute.kill(victim.id);
    await burst;
    const afterKill = await measure();
    return { warm, after_kill: afterKill };
  } finally {
    await fleet.close();
  }
}

/** The machine's load when the bench started: figures from a busy machine are not the quiet ones. */
const LOAD_AT_START = loadavg().map((n) => Math.round(n * 100) / 100);

async function main(): Promise<void> {
  if (args['containers-only']) {
    const f = await containerFigures({ cold: COLD_RUNS, n: Math.min(N, 300) });
    if (args.json) console.log(JSON.stringify({ containers: f }, null, 2));
    else printContainerFigures(f);
    return;
  }
  if (args.replicas) {
    if (!args.json) console.log(`load average at the start: ${LOAD_AT_START.join(' ')} (1, 5, 15 min)`);
    const figures: ReplicaFigures[] = [];
    for (const queue of ['embedded', 'sqs'] as const) {
      const f = await replicaFigures(queue);
      figures.push(f);
      if (!args.json) console.log(describeReplicaFigures(f, REPLICA_MAX_CONCURRENCY));
    }
    if (args.json) {
      console.log(JSON.stringify({ load_average_at_start: LOAD_AT_START, replicas: figures }, null, 2));
    }
    return;
  }
  if (args['throughput-only']) {
    if (!args.json) console.log(`load average at the start: ${LOAD_AT_START.join(' ')} (1, 5, 15 min)`);
    const rows = await throughputFigures({ postgres: args.postgres, counts: COUNTS, inFlight: IN_FLIGHT });
    if (args.json) console.log(JSON.stringify({ throughput: rows }, null, 2));
    else printThroughput(rows, IN_FLIGHT);
    return;
  }
  if (args['queues-only']) {
    if (!args.json) console.log(`load average at the start: ${LOAD_AT_START.join(' ')} (1, 5, 15 min)`);
    const rows = { embedded: await queueFigures('embedded'), sqs: await queueFigures('sqs') };
    printQueues(rows);
    return;
  }
  const control = await startTestControl({ postgres: args.postgres });
  const direct = await startDirectApp();
  let closed = false;
  try {
    await control.deploy({
      owner: 'bench',
      name: 'hello',
      settings: { max_multiplexing: 16 },
      scaling: { keep_alive: 1, max_concurrency: 2 },
    });
    const run = () => fetch(`${control.url}/run/bench/hello`, { method: 'POST', body, headers: json });
    const app = () => fetch(`${direct.url}/`, { method: 'POST', body, headers: json });

    // Cold starts: wait for zero runners, then one request.
    const cold: number[] = [];
    for (let i = 0; i < COLD_RUNS; i++) {
      await eventually(
        async () => ((await liveRunners(control)) === 0 ? true : undefined),
        30_000,
        'scale to zero',
      );
      cold.push(await timedOrCount('cold start', run));
    }

    // Warm: keep the runner alive through the measurements.
    await adminClient(control).patchScaling(HELLO, { keep_alive: 300, min_concurrency: 1 });
    for (let i = 0; i < 50; i++) {
      await timedOrCount('warm-up', run);
      await timed(app);
    }
    const seqGantry: number[] = [];
    const seqDirect: number[] = [];
    const trace = await traceStages(control.service);
    const traced: string[] = [];
    for (let i = 0; i < N; i++) {
      const sent = performance.timeOrigin + performance.now();
      let id: string | null = null;
      seqGantry.push(
        await timedOrCount('sequential', async () => {
          const res = await run();
          id = res.headers.get('x-fal-request-id');
          return res;
        }),
      );
      if (id !== null) {
        trace.mark(id, 'sent', sent);
        trace.mark(id, 'received', sent + seqGantry[seqGantry.length - 1]!);
        traced.push(id);
      }
      seqDirect.push(await timed(app));
    }
    const stages = await trace.finish(traced);

    const STREAMS = Math.min(N, 200);
    const ttfeGantry: number[] = [];
    const ttfeDirect: number[] = [];
    for (let i = 0; i < STREAMS; i++) {
      ttfeGantry.push(await firstEvent(`${control.url}/run/bench/hello/stream`));
      ttfeDirect.push(await firstEvent(`${direct.url}/stream`));
    }

    const burst = async (call: () => Promise<Response>) => {
      const t = performance.now();
      const times = await Promise.all(Array.from({ length: N }, () => timed(call)));
      return { times, rps: N / ((performance.now() - t) / 1000) };
    };
    const conDirect = await burst(app);
    const conGantry = await burst(run);

    const sg = stats(seqGantry);
    const sd = stats(seqDirect);
    const rows = {
      load_average_at_start: LOAD_AT_START,
      cold_start_ms: { runs: cold.map(round), median: round(stats(cold).p50_ms) },
      hello_start_ms: round(direct.startMs),
      sequential: {
        n: N,
        gantry: mapRound(sg),
        direct: mapRound(sd),
        overhead_p50_ms: round(sg.p50_ms - sd.p50_ms),
        overhead_p99_ms: round(sg.p99_ms - sd.p99_ms),
        fastest_ms: round(Math.min(...seqGantry)),
        stages,
      },
      first_event: { n: STREAMS, gantry: mapRound(stats(ttfeGantry)), direct: mapRound(stats(ttfeDirect)) },
      concurrent: {
        n: N,
        gantry: { ...mapRound(stats(conGantry.times)), rps: Math.round(conGantry.rps) },
        direct: { ...mapRound(stats(conDirect.times)), rps: Math.round(conDirect.rps) },
      },
    };
    // The base measurements' control must be gone before the queue comparison starts its own.
    closed = true;
    await control.close();
    direct.proc.kill('SIGTERM');
    const queues = { embedded: await queueFigures('embedded'), sqs: await queueFigures('sqs') };
    const throughput = await throughputFigures({
      postgres: args.postgres,
      counts: COUNTS,
      inFlight: IN_FLIGHT,
    });
    const busy = await busyFigures(Math.min(N, 300));
    const soak = SOAK_MINUTES > 0 ? await soakFigures(SOAK_MINUTES) : undefined;
    const containers = args['no-containers']
      ? undefined
      : await containerFigures({ cold: COLD_RUNS, n: Math.min(N, 300) });
    if (args.json) {
      const more = {
        queues,
        throughput,
        busy,
        ...(soak ? { soak } : {}),
        ...(containers ? { containers } : {}),
      };
      console.log(JSON.stringify({ ...rows, ...more }, null, 2));
    } else {
      const line = (name: string, s: Stats & { rps?: number }) =>
        `  ${name.padEnd(26)} p50 ${s.p50_ms.toFixed(2).padStart(8)} ms   p99 ${s.p99_ms.toFixed(2).padStart(8)} ms${
          s.rps ? `   ${String(s.rps).padStart(6)} req/s` : ''
        }`;
      console.log(
        `\nGantry bench (examples/hello, ${args.postgres ? 'PostgreSQL' : 'embedded PGlite'} store and queue, process compute; ${N} requests)`,
      );
      console.log(`load average at the start: ${LOAD_AT_START.join(' ')} (1, 5, 15 min; 2 cores)\n`);
      console.log(
        `cold start (0 runners → result): ${rows.cold_start_ms.runs.join(' ms, ')} ms; median ${rows.cold_start_ms.median} ms (goal < 1500)`,
      );
      console.log(`hello start (spawn → healthy, no Gantry): ${rows.hello_start_ms} ms (goal < 1500)`);
      console.log('\nsequential (one at a time, warm runner)');
      console.log(line('through Gantry (POST /run)', rows.sequential.gantry));
      console.log(line('direct to the app', rows.sequential.direct));
      console.log(
        `  overhead                   p50 ${rows.sequential.overhead_p50_ms} ms (goal ≤ 1)   p99 ${rows.sequential.overhead_p99_ms} ms (goal ≤ 5); fastest through Gantry ${rows.sequential.fastest_ms} ms`,
      );
      printStages(rows.sequential.stages, rows.sequential.direct);
      console.log(
        `\ntime to first event (streaming endpoint, ${rows.first_event.n} one at a time, warm runner)`,
      );
      console.log(line('through Gantry (fal.stream)', rows.first_event.gantry));
      console.log(line('direct to the app', rows.first_event.direct));
      console.log(`\nconcurrent (${N} at once, max_multiplexing 16, up to 2 runners)`);
      console.log(line('through Gantry (POST /run)', rows.concurrent.gantry));
      console.log(line('direct to the app', rows.concurrent.direct));
      printQueues(queues);
      for (const [phase, f] of Object.entries(FAILED)) {
        console.log(`failed and tried again (${phase}): ${f.count}; the first: ${f.first}`);
      }
      printThroughput(throughput, IN_FLIGHT);
      printBusy(busy);
      if (soak) printSoak(soak);
      if (containers) printContainerFigures(containers);
    }
  } finally {
    direct.proc.kill('SIGTERM');
    if (!closed) await control.close();
  }
}

function printQueues(q: Record<QueueKind, { warm: QueueFigures; after_kill: QueueFigures }>): void {
  if (args.json) {
    console.log(JSON.stringify({ queues: q }, null, 2));
    return;
  }
  const s = (x: Stats) => `${x.p50_ms.toFixed(2).padStart(7)} / ${x.p99_ms.toFixed(2).padStart(7)} ms`;
  console.log(`\nqueues (warm round trip p50 / p99, sequential; ${N} concurrent: req/s; 2 runners × 16)`);
  for (const kind of ['embedded', 'sqs'] as const) {
    for (const phase of ['warm', 'after_kill'] as const) {
      const f = q[kind][phase];
      console.log(
        `  ${kind.padEnd(9)} ${phase.padEnd(11)} ${s(f.sequential)}   ${String(f.concurrent.rps).padStart(6)} req/s`,
      );
    }
  }
  console.log('');
}

const REPLICA_MAX_CONCURRENCY = 3;

/** The two-replica fault on one queue, at the test's size or at --n requests when given. */
async function replicaFigures(queue: QueueKind): Promise<ReplicaFigures> {
  const fault = await startReplicaFault({
    queue,
    databaseUrl: process.env.DATABASE_URL!,
    calls: process.argv.some((a) => a === '--n' || a.startsWith('--n=')) ? N : 400,
    callers: 32,
    maxConcurrency: REPLICA_MAX_CONCURRENCY,
  });
  try {
    return await fault.run();
  } finally {
    await fault.close();
  }
}

function mapRound(s: Stats): Stats {
  return { p50_ms: round(s.p50_ms), p99_ms: round(s.p99_ms), mean_ms: round(s.mean_ms) };
}

main().catch((err) => {
  console.error(`bench failed: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
});
