/**
 * Fault 1: a runner is SIGKILLed with requests in flight. Every request completes, each exactly
 * once, the interrupted ones on another runner: on the embedded queue and on SQS.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually, startTestControl, type TestControl } from '../support/control.ts';
import { openQueue, type QueueKind, type QueueUnderTest } from '../support/queues.ts';
import {
  completed,
  FAULTY_APP,
  isLive,
  requestRows,
  result,
  runnerRows,
  submit,
} from '../support/requests.ts';

describe.each<QueueKind>(['embedded', 'sqs'])('a runner killed mid-request (%s queue)', (kind) => {
  let queue: QueueUnderTest;
  let control: TestControl;
  let stateDir: string;

  beforeAll(async () => {
    queue = await openQueue(kind);
    stateDir = await mkdtemp(path.join(tmpdir(), 'gantry-kill-'));
    control = await startTestControl({ env: { ...queue.env, GANTRY_LEASE_SECONDS: '5' } });
    await control.deploy({
      name: 'faulty',
      command: FAULTY_APP,
      settings: { max_multiplexing: 3 },
      scaling: { min_concurrency: 2, max_concurrency: 3, keep_alive: 60 },
    });
    await eventually(
      async () =>
        (await runnerRows(control.admin, 'faulty')).filter((r) => r.state === 'IDLE').length >= 2
          ? true
          : undefined,
      30_000,
      'two warm runners',
    );
  });

  afterAll(async () => {
    await control?.close();
    await queue?.close();
    await rm(stateDir, { recursive: true, force: true });
  });

  it('every request completes once; the interrupted ones on another runner', async () => {
    const ids = await Promise.all(
      Array.from({ length: 6 }, (_, i) =>
        submit(control.url, 'faulty', { name: `r${i}`, delay_ms: 2500, state_dir: stateDir }),
      ),
    );
    // Wait until every request is being served (two warm runners × max_multiplexing 3, each request
    // 2.5 s), so what the victim holds is settled before it is killed without warning.
    const victim = await eventually(async () => {
      const rows = await requestRows(control.admin, 'faulty');
      if (rows.filter((r) => ids.includes(r.request_id) && r.status === 'IN_PROGRESS').length < ids.length) {
        return undefined;
      }
      return rows.find((r) => r.status === 'IN_PROGRESS' && r.runner_id)?.runner_id ?? undefined;
    });
    const held = (await requestRows(control.admin, 'faulty'))
      .filter((r) => r.runner_id === victim)
      .map((r) => r.request_id);
    expect(held.length).toBeGreaterThan(0);
    await control.service.compute.kill(victim);

    for (const id of ids) {
      const s = await completed(() => control.url, 'faulty', id, 60_000);
      expect(s.error).toBeUndefined();
      const r = await result(control.url, 'faulty', id);
      expect(r.status).toBe(200);
    }
    const rows = new Map((await requestRows(control.admin, 'faulty')).map((r) => [r.request_id, r]));
    for (const id of ids) {
      const row = rows.get(id)!;
      // Completed by a runner that is not the one killed; recorded once (one finished attempt).
      expect(row.runner_id).not.toBe(victim);
      expect(row.attempts).toBe(held.includes(id) ? 2 : 1);
      const done = (await readFile(path.join(stateDir, `${id}.done`), 'utf8')).trim().split('\n');
      expect(done).toHaveLength(1);
    }
    const runners = await runnerRows(control.admin, 'faulty');
    expect(runners.find((r) => r.id === victim)?.state).toBe('TERMINATED');
    expect(runners.filter(isLive).length).toBeGreaterThanOrEqual(1);
  });
});
