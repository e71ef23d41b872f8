/**
 * Control as a child process (`npm start`'s entry point), for tests that kill it without warning
 * and start it again on the same port and data: runners it started outlive it, as they would
 * outlive a control container that crashed.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { eventually, REPO_ROOT } from './control.ts';
import { freePort } from './free-port.ts';

export interface ControlProcess {
  url: string;
  adminKey: string;
  admin(pathname: string, init?: { method?: string; body?: unknown }): Promise<Response>;
  /** Starts control (again), on the same port and data dir. */
  start(): Promise<void>;
  /** SIGKILL: no drain, no goodbye. Returns the runner pids it had started. */
  kill(): Promise<number[]>;
  /** The pids of the runners it runs as its children now. */
  runnerPids(): number[];
  /** SIGTERM (control drains its runners), and SIGKILL any runner pids given. */
  stop(orphans?: number[]): Promise<void>;
}

export async function controlProcess(opts: {
  dataDir: string;
  env?: Record<string, string>;
  /** Replicas of one installation share their admin key. */
  adminKey?: string;
}): Promise<ControlProcess> {
  const port = await freePort();
  const adminKey = opts.adminKey ?? `gk_test_${randomBytes(12).toString('hex')}`;
  const url = `http://127.0.0.1:${port}`;
  let proc: ChildProcess | undefined;
  const admin = (pathname: string, init: { method?: string; body?: unknown } = {}) =>
    fetch(`${url}${pathname}`, {
      method: init.method ?? (init.body === undefined ? 'GET' : 'POST'),
      headers: {
        authorization: `Key ${adminKey}`,
        ...(init.body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      ...(init.body === undefined ? {} : { body: JSON.stringify(init.body) }),
    });
  const exited = (p: ChildProcess) =>
    p.exitCode !== null || p.signalCode !== null
      ? Promise.resolve()
      : new Promise<void>((resolve) => p.once('exit', () => resolve()));

  const runnerPids = (): number[] => {
    if (!proc?.pid || proc.exitCode !== null || proc.signalCode !== null) return [];
    try {
      return execFileSync('pgrep', ['-P', String(proc.pid)], { encoding: 'utf8' })
        .split('\n')
        .map(Number)
        .filter((n) => n > 0);
    } catch {
      return []; // No children.
    }
  };

  return {
    url,
    adminKey,
    admin,
    async start() {
      const env: Record<string, string> = {};
      for (const [k, v] of Object.entries(process.env)) {
        if (v !== undefined && !k.startsWith('GANTRY_') && k !== 'DATABASE_URL') env[k] = v;
      }
      proc = spawn(process.execPath, ['--import', 'tsx', 'control/src/main.ts'], {
        cwd: REPO_ROOT,
        env: {
          ...env,
          PORT: String(port),
          GANTRY_DATA_DIR: opts.dataDir,
          GANTRY_ADMIN_KEY: adminKey,
          GANTRY_DEPLOY_EXAMPLE: 'false',
          GANTRY_TICK_MS: '200',
          GANTRY_LOG_LEVEL: process.env.GANTRY_TEST_LOG ? 'debug' : 'warn',
          ...opts.env,
        },
        stdio: ['ignore', process.env.GANTRY_TEST_LOG ? 'inherit' : 'ignore', 'inherit'],
      });
      await eventually(
        async () => {
          const r = await fetch(`${url}/healthz`).catch(() => undefined);
          return r?.ok ? true : undefined;
        },
        120_000,
        'control to listen',
      );
    },
    runnerPids,
    async kill() {
      const p = proc;
      if (!p?.pid) return [];
      const runners = runnerPids();
      p.kill('SIGKILL');
      await exited(p);
      return runners;
    },
    async stop(orphans = []) {
      const p = proc;
      if (p) {
        p.kill('SIGTERM');
        const timer = setTimeout(() => p.kill('SIGKILL'), 20_000);
        await exited(p);
        clearTimeout(timer);
      }
      for (const pid of orphans) {
        for (const target of [-pid, pid]) {
          try {
            process.kill(target, 'SIGKILL');
          } catch {
            // Already gone.
          }
        }
      }
    },
  };
}
