/**
 * Fault: two control processes share one PostgreSQL database (a fresh one for this test) and the
 * queue in it, behind a round-robin proxy on loopback as behind a load balancer. Callers use the
 * official fal client through the proxy. Under load, one control is SIGKILLed and started again.
 *
 * Every call gets its own result, each request runs and completes once, no environment ever has
 * more runners than max_concurrency, and no runner is drained: the runners of the killed control
 * keep serving through its peer, and the restarted control takes them over without a drain.
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createFalClient } from '@fal-ai/client';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually, REPO_ROOT } from '../support/control.ts';
import { type ControlProcess, controlProcess } from '../support/control-process.ts';
import { FAULTY_APP } from '../support/requests.ts';
import { type RoundRobinProxy, startRoundRobinProxy } from '../support/round-robin-proxy.ts';

const BASE_URL = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const CALLS = 400;
const CALLERS = 32;
const MAX_CONCURRENCY = 3;

interface RunnerRow {
  id: string;
  state: string;
  created_at: number;
  ended_at: number | null;
  drain_requested: boolean;
  detail: string | null;
}

describe('two control processes, one killed and restarted under load', () => {
  const dbName = `gantry_ha_${randomBytes(5).toString('hex')}`;
  const databaseUrl = (() => {
    const u = new URL(BASE_URL);
    u.pathname = `/${dbName}`;
    return u.toString();
  })();
  let admin: pg.Client;
  let db: pg.Client;
  let dataDir: string;
  let stateDir: string;
  let proxy: RoundRobinProxy;
  const upstreams: string[] = [];
  let a: ControlProcess;
  let b: ControlProcess;
  const runnerPids = new Set<number>();

  beforeAll(async () => {
    admin = new pg.Client({ connectionString: BASE_URL });
    await admin.connect();
    await admin.query(`CREATE DATABASE ${dbName}`);
    db = new pg.Client({ connectionString: databaseUrl });
    await db.connect();
    // One installation: one data dir holds the keys both replicas share (the master key, the
    // webhook signing key), as the install's secrets do in production.
    dataDir = await mkdtemp(path.join(tmpdir(), 'gantry-replicas-'));
    stateDir = await mkdtemp(path.join(tmpdir(), 'gantry-replicas-state-'));
    proxy = await startRoundRobinProxy(upstreams);
    const adminKey = `gk_test_${randomBytes(12).toString('hex')}`;
    const env = {
      DATABASE_URL: databaseUrl,
      // Runners reach control through the proxy, as through the load balancer.
      GANTRY_CONTROL_URL: proxy.url,
      GANTRY_LEASE_SECONDS: '5',
    };
    a = await controlProcess({ dataDir, adminKey, env });
    b = await controlProcess({ dataDir, adminKey, env });
    upstreams.push(a.url, b.url);
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
        // keep_alive long: any drain seen in this test is one the restart caused.
        body: { max_concurrency: MAX_CONCURRENCY, keep_alive: 600 },
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
  }, 240_000);

  afterAll(async () => {
    for (const c of [a, b]) for (const pid of c?.runnerPids() ?? []) runnerPids.add(pid);
    await b?.stop();
    await a?.stop();
    // Runners handed from one control to the other outlive both: ask them to stop, then make sure.
    for (const pid of runnerPids) signal(pid, 'SIGTERM');
    await eventually(async () => ([...runnerPids].some(alive) ? undefined : true), 30_000).catch(() => {});
    for (const pid of runnerPids) signal(pid, 'SIGKILL');
    await proxy?.close();
    await db?.end();
    await admin?.query(`DROP DATABASE IF EXISTS ${dbName} WITH (FORCE)`).catch(() => {});
    await admin?.end();
    await rm(dataDir, { recursive: true, force: true });
    await rm(stateDir, { recursive: true, force: true });
  }, 120_000);

  it('answers every call once with its own result, within max_concurrency, draining nothing', async () => {
    // The first runner is control A's own child: killing A leaves a runner without its parent.
    const direct = createFalClient({ proxyUrl: { url: `${a.url}/fal/proxy`, when: 'always' } });
    await direct.subscribe('test/ha', { input: { name: 'warm-up', state_dir: stateDir }, pollInterval: 100 });
    const fal = createFalClient({ proxyUrl: { url: `${proxy.url}/fal/proxy`, when: 'always' } });

    const outcomes: ({ requestId: string; message: string } | { error: string })[] = new Array(CALLS);
    let next = 0;
    let done = 0;
    const caller = async () => {
      for (let i = next++; i < CALLS; i = next++) {
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
    const load = Promise.all(Array.from({ length: CALLERS }, caller));

    // A third of the way in, control A dies without a word, and comes back.
    await eventually(async () => (done >= CALLS / 3 ? true : undefined), 120_000, 'a third of the calls');
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
    for (const [i, o] of outcomes.entries()) {
      const name = `call-${i}`;
      const mine = byInput.get(name) ?? [];
      // The submit's answer was cut off with the killed control and the fal client sent it again.
      if (mine.length > 1) resubmitted += mine.length - 1;
      if ('error' in o) {
        lost++;
        continue;
      }
      if (o.message === `Hello, ${name}!`) completed++;
      else duplicated++; // someone else's result
    }
    for (const n of executions.values()) if (n > 1) duplicated += n - 1;
    for (const reqs of byInput.values()) for (const r of reqs) if (r.status !== 'COMPLETED') lost++;
    const peak = peakRunners(rows);
    const extraRunners = Math.max(0, peak - MAX_CONCURRENCY);
    const drained = rows.filter((r) => r.drain_requested || r.ended_at !== null);
    console.log(
      `two replicas, one SIGKILLed after ${completedAtKill} calls: requests ${CALLS}, completed ${completed}, ` +
        `lost ${lost}, duplicated ${duplicated}, extra runners ${extraRunners} (peak ${peak} of max ${MAX_CONCURRENCY}), ` +
        `runners ${rows.length} (${orphaned.length} orphaned by the kill, ${drained.length} drained), ` +
        `submits resent by the client ${resubmitted}, answers cut off by the kill ${proxy.cutOff}`,
    );

    expect(completed).toBe(CALLS);
    expect(lost).toBe(0);
    expect(duplicated).toBe(0);
    expect(extraRunners).toBe(0);
    expect(drained.map((r) => `${r.id} ${r.state} ${r.detail}`)).toEqual([]);
    // The runners that served before the kill serve still.
    const live = new Set(rows.filter((r) => r.ended_at === null).map((r) => r.id));
    for (const id of liveBeforeKill) expect(live.has(id)).toBe(true);
    expect(orphaned.length).toBeGreaterThan(0);
  }, 300_000);

  async function runners(): Promise<RunnerRow[]> {
    const r = await db.query<RunnerRow>(
      'SELECT id, state, created_at, ended_at, drain_requested, detail FROM runners ORDER BY created_at',
    );
    return r.rows;
  }

  async function requestsByInput(): Promise<Map<string, { id: string; status: string }[]>> {
    const r = await db.query<{ id: string; status: string; name: string }>(
      "SELECT id, status, input->>'name' AS name FROM requests",
    );
    const out = new Map<string, { id: string; status: string }[]>();
    for (const row of r.rows) out.set(row.name, [...(out.get(row.name) ?? []), row]);
    return out;
  }

  /** Lines per request id in the app's state files: attempts it ran, or answers it gave. */
  async function countLines(suffix: string): Promise<Map<string, number>> {
    const out = new Map<string, number>();
    for (const f of await readdir(stateDir)) {
      if (!f.endsWith(suffix)) continue;
      const text = await readFile(path.join(stateDir, f), 'utf8');
      out.set(f.slice(0, -suffix.length), text.trim().split('\n').length);
    }
    return out;
  }
});

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
