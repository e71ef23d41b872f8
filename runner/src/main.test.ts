/** The runner as a process: exit codes, signals and its own stderr, as compute drivers see them. */
import { type ChildProcess, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { FAKE_APP_COMMAND } from './testing/fake-app.ts';
import { type FakeControl, job, startFakeControl } from './testing/fake-control.ts';

const MAIN = fileURLToPath(new URL('./main.ts', import.meta.url));

interface RunnerProcess {
  child: ChildProcess;
  exit: Promise<number | null>;
  stderr: () => string;
}

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  await Promise.all(cleanups.splice(0).map((cleanup) => cleanup()));
});

function spawnRunner(env: Record<string, string>): RunnerProcess {
  const child = spawn(process.execPath, ['--import', 'tsx', MAIN], {
    env: { PATH: process.env['PATH'] ?? '', ...env },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  const exit = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  cleanups.push(async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await exit;
  });
  return { child, exit, stderr: () => stderr };
}

async function withControl(): Promise<FakeControl> {
  const control = await startFakeControl();
  cleanups.push(() => control.close());
  return control;
}

function runnerEnv(control: FakeControl, extra: Record<string, string> = {}): Record<string, string> {
  return {
    GANTRY_CONTROL_URL: control.url,
    GANTRY_RUNNER_ID: 'proc-1',
    GANTRY_RUNNER_TOKEN: control.token,
    GANTRY_APP_COMMAND: JSON.stringify(FAKE_APP_COMMAND),
    ...extra,
  };
}

describe('runner process', () => {
  it('on SIGTERM finishes the request in flight, reports TERMINATED and exits 0', async () => {
    const control = await withControl();
    const runner = spawnRunner(runnerEnv(control));
    await control.waitFor(() => control.states.some((s) => s.state === 'IDLE'), 'state IDLE');
    // Still in flight when SIGTERM lands, even when the machine is busy: the drain must wait for it.
    control.enqueue(job({ request_id: 'req-drain', input: { delay_ms: 2_000 } }));
    await control.waitFor(() => control.states.some((s) => s.state === 'RUNNING'), 'state RUNNING');

    runner.child.kill('SIGTERM');
    expect(await runner.exit).toBe(0);
    expect(control.results).toMatchObject([
      { request_id: 'req-drain', outcome: 'response', status_code: 200 },
    ]);
    expect(control.states.map((s) => s.state)).toEqual([
      'SETUP',
      'IDLE',
      'RUNNING',
      'DRAINING',
      'TERMINATED',
    ]);
    expect(runner.stderr()).toMatch(/^\[runner proc-1\] \S+ info draining reason=SIGTERM in_flight=1$/m);
  });

  it('exits 3 and reports TERMINATED with the reason when the app fails to start', async () => {
    const control = await withControl();
    const runner = spawnRunner(runnerEnv(control, { FAKE_SETUP_FAIL: '1' }));
    expect(await runner.exit).toBe(3);
    const last = control.states.at(-1);
    expect(last?.state).toBe('TERMINATED');
    expect(last?.detail).toContain('CUDA error: out of memory');
    expect(runner.stderr()).toContain('app failed to start');
  });

  it('exits 2 with a message naming the bad settings and no stack trace', async () => {
    const runner = spawnRunner({ GANTRY_CONTROL_URL: 'http://127.0.0.1:1', GANTRY_MAX_MULTIPLEXING: 'lots' });
    expect(await runner.exit).toBe(2);
    expect(runner.stderr()).toContain('GANTRY_RUNNER_ID is required');
    expect(runner.stderr()).toContain(
      "GANTRY_MAX_MULTIPLEXING must be an integer from 1 to 100 (got 'lots')",
    );
    expect(runner.stderr()).not.toMatch(/\n\s+at /);
  });
});
