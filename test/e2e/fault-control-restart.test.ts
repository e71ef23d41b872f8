/**
 * Fault 2: control is killed (SIGKILL, no drain) with requests queued and in flight, and started
 * again on the same data. Nothing is lost, each result is recorded once, and callers polling
 * status get their results: runners from before the restart finish what they hold and report it
 * to the new control, which runs the queued rest on runners of its own.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../support/control.ts';
import { type ControlProcess, controlProcess } from '../support/control-process.ts';
import { openQueue, type QueueKind, type QueueUnderTest } from '../support/queues.ts';
import { completed, FAULTY_APP, requestRows, result, submit } from '../support/requests.ts';

describe.each<QueueKind>(['embedded', 'sqs'])('control killed and restarted (%s queue)', (kind) => {
  let queue: QueueUnderTest;
  let control: ControlProcess;
  let dataDir: string;
  let stateDir: string;
  let orphans: number[] = [];

  beforeAll(async () => {
    queue = await openQueue(kind);
    dataDir = await mkdtemp(path.join(tmpdir(), 'gantry-restart-'));
    stateDir = await mkdtemp(path.join(tmpdir(), 'gantry-restart-state-'));
    control = await controlProcess({ dataDir, env: { ...queue.env, GANTRY_LEASE_SECONDS: '5' } });
    await control.start();
    const ok = async (r: Promise<Response>) => {
      const res = await r;
      if (!res.ok) throw new Error(`${res.status} ${await res.text()}`);
    };
    await ok(control.admin('/v1/apps', { body: { owner: 'test', name: 'restart', auth_mode: 'public' } }));
    await ok(
      control.admin('/v1/apps/test/restart/environments/production/scaling', {
        method: 'PATCH',
        body: { max_concurrency: 2, keep_alive: 30 },
      }),
    );
    await ok(
      control.admin('/v1/apps/test/restart/environments/production/revisions', {
        body: {
          command: FAULTY_APP,
          cwd: REPO_ROOT,
          settings: { max_multiplexing: 2 },
          activate: true,
          strategy: 'recreate',
        },
      }),
    );
  });

  afterAll(async () => {
    await control?.stop(orphans);
    await queue?.close();
    await rm(dataDir, { recursive: true, force: true });
    await rm(stateDir, { recursive: true, force: true });
  });

  it('loses nothing, records each result once, and waiting callers get their results', async () => {
    const ids: string[] = [];
    for (let i = 0; i < 8; i++) {
      ids.push(await submit(control.url, 'restart', { name: `r${i}`, delay_ms: 1500, state_dir: stateDir }));
    }
    // Some in flight, the rest queued behind them.
    const { eventually } = await import('../support/control.ts');
    await eventually(async () => {
      const rows = await requestRows(control.admin, 'restart');
      return rows.filter((r) => r.status === 'IN_PROGRESS').length >= 2 ? true : undefined;
    });
    orphans = await control.kill();
    await control.start();

    // Callers were polling all along; they see every request through to its result.
    const statuses = await Promise.all(ids.map((id) => completed(() => control.url, 'restart', id, 80_000)));
    for (const s of statuses) expect(s.error).toBeUndefined();
    const rows = new Map((await requestRows(control.admin, 'restart')).map((r) => [r.request_id, r]));
    for (const id of ids) {
      expect((await result(control.url, 'restart', id)).status).toBe(200);
      expect(rows.get(id)!.attempts).toBeGreaterThanOrEqual(1);
      const done = (await readFile(path.join(stateDir, `${id}.done`), 'utf8')).trim().split('\n');
      expect(done).toHaveLength(1);
    }
  });
});
