/**
 * A warm Gantry for the throughput, busy-machine and soak figures: control composed in this
 * process on the store and queue asked for, hello deployed with two runners × max_multiplexing 16
 * kept alive, and the sync call a caller makes.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';
import { ControlApiClient } from '../contract/src/control-client.ts';
import { eventually, REPO_ROOT, startTestControl, type TestControl } from '../test/support/control.ts';
import { freePort } from '../test/support/free-port.ts';
import { openQueue, type QueueKind } from '../test/support/queues.ts';

export interface Fleet {
  control: TestControl;
  /** One `POST /run/bench/hello`, its body read; throws on a non-2xx answer. */
  run(): Promise<void>;
  close(): Promise<void>;
}

const body = JSON.stringify({ name: 'Ada' });
const json = { 'content-type': 'application/json' };

/** A POST with a JSON body whose answer is read whole; throws on a non-2xx answer. */
export async function post(url: string): Promise<void> {
  const res = await fetch(url, { method: 'POST', body, headers: json });
  const text = await res.text();
  if (!res.ok) throw new Error(`HTTP ${res.status}: ${text.slice(0, 200)}`);
}

export async function startFleet(o: {
  postgres: boolean;
  queue: QueueKind;
  /** Control's settings beside the queue's. */
  env?: Record<string, string>;
  /** Room for a replacement runner beside the two kept warm (2: none). */
  maxConcurrency?: number;
}): Promise<Fleet> {
  const queue = await openQueue(o.queue);
  const control = await startTestControl({ postgres: o.postgres, env: { ...queue.env, ...o.env } });
  try {
    await control.deploy({
      owner: 'bench',
      name: 'hello',
      settings: { max_multiplexing: 16 },
      scaling: { min_concurrency: 2, max_concurrency: o.maxConcurrency ?? 2, keep_alive: 300 },
    });
    const admin = new ControlApiClient({ url: control.url, key: control.adminKey });
    await eventually(
      async () => {
        const runners = await admin.listRunners({ owner: 'bench', name: 'hello', env: 'production' });
        return runners.filter((r) => r.state === 'IDLE' || r.state === 'RUNNING').length >= 2
          ? true
          : undefined;
      },
      60_000,
      'two warm runners',
    );
  } catch (err) {
    await control.close();
    await queue.close();
    throw err;
  }
  const url = `${control.url}/run/bench/hello`;
  const run = () => post(url);
  for (let i = 0; i < 50; i++) await run();
  return {
    control,
    run,
    async close() {
      await control.close();
      await queue.close();
    },
  };
}

/** `total` calls, `inFlight` at a time; requests per second and how many failed. */
export async function drive(
  call: () => Promise<void>,
  total: number,
  inFlight: number,
): Promise<{ rps: number; failed: number; firstError?: string }> {
  let next = 0;
  let failed = 0;
  let firstError: string | undefined;
  const t = performance.now();
  await Promise.all(
    Array.from({ length: Math.min(inFlight, total) }, async () => {
      while (next < total) {
        next++;
        await call().catch((err: unknown) => {
          failed++;
          firstError ??= err instanceof Error ? err.message : String(err);
        });
      }
    }),
  );
  const rps = Math.round(total / ((performance.now() - t) / 1000));
  return firstError === undefined ? { rps, failed } : { rps, failed, firstError };
}

/** Starts hello as Gantry's process driver would and times spawn → healthy (the app's own start). */
export async function startDirectApp(): Promise<{ url: string; proc: ChildProcess; startMs: number }> {
  const port = await freePort();
  const t = performance.now();
  const proc = spawn(process.execPath, ['--import', 'tsx', 'examples/hello/app.ts'], {
    cwd: REPO_ROOT,
    env: { ...process.env, PORT: String(port) },
    stdio: 'ignore',
  });
  const url = `http://127.0.0.1:${port}`;
  for (let i = 0; ; i++) {
    const r = await fetch(`${url}/health`).catch(() => undefined);
    if (r?.status === 200) break;
    if (i >= 1_500) throw new Error('examples/hello did not become healthy within 30 s');
    await sleep(20);
  }
  return { url, proc, startMs: performance.now() - t };
}
