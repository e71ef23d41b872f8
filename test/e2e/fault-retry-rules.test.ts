/**
 * Fault 3: apps that misbehave end as fal's rules say. 503 twice then 200 → retried, 200 on the
 * third attempt; 500 → not retried; hanging past request_timeout → abandoned, the runner
 * replaced, retried on a fresh one; setup() crashing → crash backoff, and a request that cannot
 * start before its x-fal-request-timeout ends 504 (type `user`), never run.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually, startTestControl, type TestControl } from '../support/control.ts';
import { completed, FAULTY_APP, requestRows, result, runnerRows, submit } from '../support/requests.ts';

let control: TestControl;
let stateDir: string;

beforeAll(async () => {
  stateDir = await mkdtemp(path.join(tmpdir(), 'gantry-rules-'));
  control = await startTestControl({ backoffStepMs: 300 });
});

afterAll(async () => {
  await control?.close();
  await rm(stateDir, { recursive: true, force: true });
});

const row = async (app: string, id: string) =>
  (await requestRows(control.admin, app)).find((r) => r.request_id === id)!;

describe('fal retry rules, with real runners and apps', () => {
  it('503 twice then 200: retried, completes on the third attempt', async () => {
    await control.deploy({ name: 'flaky', command: FAULTY_APP, scaling: { keep_alive: 30 } });
    const id = await submit(control.url, 'flaky', { fail_first: 2, state_dir: stateDir });
    await completed(() => control.url, 'flaky', id);
    const r = await result(control.url, 'flaky', id);
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject({ attempt: 3 });
    expect((await row('flaky', id)).attempts).toBe(3);
  });

  it('the synchronous /run is never retried, as on fal: a 503 comes straight back', async () => {
    const res = await fetch(`${control.url}/run/test/flaky`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ fail_first: 2, state_dir: stateDir, name: 'sync' }),
    });
    expect(res.status).toBe(503);
    const id = res.headers.get('x-fal-request-id')!;
    expect((await row('flaky', id)).attempts).toBe(1);
  });

  it('500: not retried, completes with the app error', async () => {
    const id = await submit(control.url, 'flaky', { status: 500, state_dir: stateDir });
    const s = await completed(() => control.url, 'flaky', id);
    expect(s.error_type).toBe('runner_server_error');
    const r = await result(control.url, 'flaky', id);
    expect(r.status).toBe(500);
    expect(r.headers.get('x-fal-error-type')).toBe('runner_server_error');
    expect((await row('flaky', id)).attempts).toBe(1);
  });

  it('x-fal-no-retry: a 503 is final', async () => {
    const id = await submit(
      control.url,
      'flaky',
      { fail_first: 5, state_dir: stateDir },
      { 'x-fal-no-retry': '1' },
    );
    await completed(() => control.url, 'flaky', id);
    expect((await result(control.url, 'flaky', id)).status).toBe(503);
    expect((await row('flaky', id)).attempts).toBe(1);
  });

  it('hangs past request_timeout: the attempt is abandoned, its runner replaced, the retry succeeds', async () => {
    await control.deploy({
      name: 'hangs',
      command: FAULTY_APP,
      scaling: { request_timeout: 2, keep_alive: 30, max_concurrency: 2 },
    });
    const id = await submit(control.url, 'hangs', { hang_first: 1, state_dir: stateDir });
    const first = await eventually(async () => (await row('hangs', id))?.runner_id ?? undefined);
    await completed(() => control.url, 'hangs', id, 60_000);
    const r = await result(control.url, 'hangs', id);
    expect(r.status).toBe(200);
    const final = await row('hangs', id);
    expect(final.attempts).toBe(2);
    expect(final.runner_id).not.toBe(first);
    // The runner that timed out was drained and ended, not reused.
    await eventually(async () => {
      const runners = await runnerRows(control.admin, 'hangs');
      return runners.find((x) => x.id === first)?.state === 'TERMINATED' ? true : undefined;
    });
    const attempts = (await readFile(path.join(stateDir, `${id}.attempts`), 'utf8')).trim().split('\n');
    expect(new Set(attempts).size).toBe(2); // two app processes: the second attempt ran on a new runner
  });

  it('setup() crashes: crash backoff; a request past its start deadline ends 504 (user), never run', async () => {
    await control.deploy({ name: 'broken', command: [...FAULTY_APP, '--crash-setup'] });
    const waiting = await submit(control.url, 'broken', { state_dir: stateDir });
    const timed = await submit(
      control.url,
      'broken',
      { state_dir: stateDir },
      { 'x-fal-request-timeout': '2' },
    );
    const s = await completed(() => control.url, 'broken', timed, 30_000);
    expect(s.error_type).toBe('request_timeout');
    const r = await result(control.url, 'broken', timed);
    expect(r.status).toBe(504);
    expect(r.headers.get('x-fal-request-timeout-type')).toBe('user');
    expect((await row('broken', timed)).attempts).toBe(0);

    const runners = await eventually(async () => {
      const rs = await runnerRows(control.admin, 'broken');
      return rs.filter((x) => x.state === 'CRASH_BACKOFF').length >= 2 ? rs : undefined;
    }, 30_000);
    expect(runners.find((x) => x.state === 'CRASH_BACKOFF')?.detail).toMatch(/setup failed|exited|start/);
    // The other request is not failed by a broken deploy: it waits for a revision that starts.
    expect((await row('broken', waiting)).status).toBe('IN_QUEUE');
  });
});
