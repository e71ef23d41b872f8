/**
 * The two-replica fault, shared by its test (test/e2e/fault-control-replicas.test.ts asserts on it)
 * and by `npm run bench -- --replicas` (prints its figures): two control processes share one
 * PostgreSQL database (a fresh one) and the queue in it, behind a round-robin proxy on loopback as
 * behind a load balancer. Callers use the official fal client through the proxy. Under load, one
 * control is SIGKILLed and started again.
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createFalClient } from '@fal-ai/client';
import pg from 'pg';
import { eventually, REPO_ROOT } from './control.ts';
import { type ControlProcess, controlProcess } from './control-process.ts';
import { openQueue, type QueueKind } from './queues.ts';
import { FAULTY_APP } from './requests.ts';
import { type RoundRobinProxy, startRoundRobinProxy } from './round-robin-proxy.ts';

export const DEFAULT_DATABASE_URL = 'postgres://postgres@127.0.0.1:5432/test';

export interface ReplicaFaultOptions {
  /** The embedded queue in the shared database, or SQS (fauxqs on loopback, runners polling it). */
  queue: QueueKind;
  /** The server to make the fresh database on (its database is only used to create another). */
  databaseUrl: string;
  calls: number;
  callers: number;
  maxConcurrency: number;
}

export interface RunnerRow {
  id: string;
  state: string;
  created_at: number;
  ended_at: number | null;
  drain_requested: boolean;
  detail: string | null;
}

/** What the run came to: the figures, and what the test checks beyond them. */
export interface ReplicaFigures {
  queue: QueueKind;
  requests: number;
  completed: number;
  lost: number;
  duplicated: number;
  extraRunners: number;
  peakRunners: number;
  runners: number;
  orphaned: number;
  drained: string[];
  resubmitted: number;
  cutOff: number;
  completedAtKill: number;
  /** Runners alive before the kill that are not alive at the end (none: nobody was drained). */
  goneSinceKill: string[];
}

export interface ReplicaFault {
  run(): Promise<ReplicaFigures>;
  close(): Promise<void>;
}

export async function startReplicaFault(o: ReplicaFaultOptions): Promise<ReplicaFault> {
  const dbName = `gantry_ha_${randomBytes(5).toString('hex')}`;
  const u = new URL(o.databaseUrl);
  u.pathname = `/${dbName}`;
  const databaseUrl = u.toString();
  const admin = new pg.Client({ connectionString: o.databaseUrl });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${dbName}`);
  const db = new pg.Client({ connectionString: databaseUrl });
  await db.connect();
  // One installation: one data dir holds the keys both replicas share (the master key, the
  // webhook signing key), as the install's secrets do in production.
  const dataDir = await mkdtemp(path.join(tmpdir(), 'gantry-replicas-'));
  const stateDir = await mkdtemp(path.join(tmpdir(), 'gantry-replicas-state-'));
  const upstreams: string[] = [];
  const proxy: RoundRobinProxy = await startRoundRobinProxy(upstreams);
  const adminKey = `gk_test_${randomBytes(12).toString('hex')}`;
  const queue = await openQueue(o.queue);
  const env = {
    ...queue.env,
    DATABASE_URL: databaseUrl,
    // Runners reach control through the proxy, as through the load balancer.
    GANTRY_CONTROL_URL: proxy.url,
    GANTRY_LEASE_SECONDS: '5',
  };
  const a: ControlProcess = await controlProcess({ dataDir, adminKey, env });
  const b: ControlProcess = await controlProcess({ dataDir, adminKey, env });
  const runnerPids = new Set<number>();
  upstreams.push(a.url, b.url);

  const close = async () => {
    for (const c of [a, b]) for (const pid of c.runnerPids()) runnerPids.add(pid);
    await b.stop();
    await a.stop();
    // Runners handed from one control to the other outlive both: ask them to stop, then make sure.
    for (const pid of runnerPids) signal(pid, 'SIGTERM');
    await eventually(async () => ([...runnerPids].some(alive) ? undefined : true), 30_000).catch(() => {});
    for (const pid of runnerPids) signal(pid, 'SIGKILL');
    await proxy.close();
    await queue.close();
    await db.end();
    await admin.query(`DROP DATABASE IF EXISTS ${dbName} WITH (FORCE)`).catch(() => {});
    await admin.end();
    await rm(dataDir, { recursive: true, force: true });
    await rm(stateDir, { recursive: true, force: true });
  };

  try {
    await a.start();
    await b.start();
    const ok = async (r: Promise<Response>) => {
      const res = await r;
      if (!res.ok) throw new Error(`${res.status} ${await res.text()}`);
    };
    await ok(a.admin('/v1/apps', { body: { owner: 'test', name: 'ha', auth_mode: 'public' } }));
    await ok(
      a.admin('/v1/apps/test/ha/environments/production/scaling', {
        method: 'PATCH',
        // keep_alive long: any drain seen in this run is one the restart caused.
        body: { max_concurrency: o.maxConcurrency, keep_alive: 600 },
      }),
    );
    await ok(
      a.admin('/v1/apps/test/ha/environments/production/revisions', {
        body: {
          command: FAULTY_APP,
          cwd: REPO_ROOT,
          settings: { max_multiplexing: 4 },
          activate: true,
          strategy: 'recreate',
        },
      }),
    );
  } catch (err) {
    await close().catch(() => {});
    throw err;
  }

  const runners = async (): Promise<RunnerRow[]> =>
    (
      await db.query<RunnerRow>(
        'SELECT id, state, created_at, ended_at, drain_requested, detail FROM runners ORDER BY created_at',
      )
    ).rows;

  const requestsByInput = async (): Promise<Map<string, { id: string; status: string }[]>> => {
    const r = await db.query<{ id: string; status: string; name: string }>(
      "SELECT id, status, input->>'name' AS name FROM requests",
    );
    const out = new Map<string, { id: string; status: string }[]>();
    for (const row of r.rows) out.set(row.name, [...(out.get(row.name) ?? []), row]);
    return out;
  };

  /** Lines per request id in the app's state files: attempts it ran, or answers it gave. */
  const countLines = async (suffix: string): Promise<Map<string, number>> => {
    const out = new Map<string, number>();
    for (const f of await readdir(stateDir)) {
      if (!f.endsWith(suffix)) continue;
      const text = await readFile(path.join(stateDir, f), 'utf8');
      out.set(f.slice(0, -suffix.length), text.trim().split('\n').length);
    }
    return out;
  };

  async function run(): Promise<ReplicaFigures> {
    // The first runner is control A's own child: killing A leaves a runner without its parent.
    const direct = createFalClient({ proxyUrl: { url: `${a.url}/fal/proxy`, when: 'always' } });
    await direct.subscribe('test/ha', { input: { name: 'warm-up', state_dir: stateDir }, pollInterval: 100 });
    const fal = createFalClient({ proxyUrl: { url: `${proxy.url}/fal/proxy`, when: 'always' } });

    const outcomes: ({ requestId: string; message: string } | { error: string })[] = new Array(o.calls);
    let next = 0;
    let done = 0;
    const caller = async () => {
      for (let i = next++; i < o.calls; i = next++) {
        try {
          const r = await fal.subscribe('test/ha', {
            input: { name: `call-${i}`, delay_ms: 40, state_dir: stateDir },
            pollInterval: 250,
          });
          outcomes[i] = { requestId: r.requestId, message: (r.data as { message: string }).message };
        } catch (err) {
          outcomes[i] = { error: String(err) };
        }
        done++;
      }
    };
    const load = Promise.all(Array.from({ length: o.callers }, caller));

    // A third of the way in, control A dies without a word, and comes back.
    await eventually(async () => (done >= o.calls / 3 ? true : undefined), 120_000, 'a third of the calls');
    const liveBeforeKill = (await runners()).filter((r) => r.ended_at === null).map((r) => r.id);
    const orphaned = await a.kill();
    for (const pid of orphaned) runnerPids.add(pid);
    const completedAtKill = done;
    await a.start();
    await load;
    // Submits the fal client sent again (their first answer died with control A) ran too: let them end.
    await eventually(
      async () =>
        (await db.query<{ n: number }>("SELECT count(*)::int AS n FROM requests WHERE status <> 'COMPLETED'"))
          .rows[0]!.n === 0
          ? true
          : undefined,
      60_000,
      'every request to complete',
    ).catch(() => {});

    const rows = await runners();
    const byInput = await requestsByInput();
    const executions = await countLines('.attempts');
    let completed = 0;
    let lost = 0;
    let duplicated = 0;
    let resubmitted = 0;
    for (const [i, out] of outcomes.entries()) {
      const name = `call-${i}`;
      const mine = byInput.get(name) ?? [];
      // The submit's answer was cut off with the killed control and the fal client sent it again.
      if (mine.length > 1) resubmitted += mine.length - 1;
      if ('error' in out) {
        lost++;
        continue;
      }
      if (out.message === `Hello, ${name}!`) completed++;
      else duplicated++; // someone else's result
    }
    for (const n of executions.values()) if (n > 1) duplicated += n - 1;
    for (const reqs of byInput.values()) for (const r of reqs) if (r.status !== 'COMPLETED') lost++;
    const peak = peakRunners(rows);
    const live = new Set(rows.filter((r) => r.ended_at === null).map((r) => r.id));
    return {
      queue: o.queue,
      requests: o.calls,
      completed,
      lost,
      duplicated,
      extraRunners: Math.max(0, peak - o.maxConcurrency),
      peakRunners: peak,
      runners: rows.length,
      orphaned: orphaned.length,
      drained: rows
        .filter((r) => r.drain_requested || r.ended_at !== null)
        .map((r) => `${r.id} ${r.state} ${r.detail}`),
      resubmitted,
      cutOff: proxy.cutOff,
      completedAtKill,
      goneSinceKill: liveBeforeKill.filter((id) => !live.has(id)),
    };
  }

  return { run, close };
}

/** The figures as one line: the test prints it, and so does the bench. */
export function describeReplicaFigures(f: ReplicaFigures, maxConcurrency: number): string {
  return (
    `two replicas (${f.queue === 'sqs' ? 'SQS' : 'embedded queue'}), one SIGKILLed after ${f.completedAtKill} calls: requests ${f.requests}, completed ${f.completed}, ` +
    `lost ${f.lost}, duplicated ${f.duplicated}, extra runners ${f.extraRunners} (peak ${f.peakRunners} of max ${maxConcurrency}), ` +
    `runners ${f.runners} (${f.orphaned} orphaned by the kill, ${f.drained.length} drained), ` +
    `submits resent by the client ${f.resubmitted}, answers cut off by the kill ${f.cutOff}`
  );
}

/** The most runners alive at once, from their lives as recorded (created to ended). */
function peakRunners(rows: RunnerRow[]): number {
  const edges = rows.flatMap((r) => [
    { at: Number(r.created_at), d: 1 },
    ...(r.ended_at === null ? [] : [{ at: Number(r.ended_at), d: -1 }]),
  ]);
  // An end and a start at the same instant: the end first.
  edges.sort((x, y) => x.at - y.at || x.d - y.d);
  let now = 0;
  let peak = 0;
  for (const e of edges) {
    now += e.d;
    peak = Math.max(peak, now);
  }
  return peak;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

function signal(pid: number, sig: NodeJS.Signals): void {
  for (const target of [-pid, pid]) {
    try {
      process.kill(target, sig);
      return;
    } catch {
      // Not a group leader, or gone.
    }
  }
}
