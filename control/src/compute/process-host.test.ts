/**
 * The process driver on one host, for real: processes never outlive their owner (a runner killed
 * outright, with no chance to stop its app, takes its app with it although the app runs in a
 * process group of its own), a host-wide cap bounds how many runners it starts, and an app finds
 * none of its runner's credentials in its runner's environment.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { Revision } from '../domain.ts';
import { isSchedulingFailure } from './compute-driver.ts';
import { ProcessCompute } from './process-compute.ts';

/** An app that writes its pid where the test finds it and would serve for ever. */
const APP = `
  const server = require('node:http').createServer((q, s) => s.end('ok'));
  server.listen(Number(process.env.PORT), '127.0.0.1', () => {
    require('node:fs').writeFileSync(process.env.PID_FILE, String(process.pid));
  });
`;

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

async function eventually<T>(probe: () => Promise<T | undefined> | T | undefined, ms: number, what: string) {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await probe();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe('a runner killed outright', () => {
  const compute = new ProcessCompute({ drainGraceSeconds: 2 });
  let dir = '';
  let appPid: number | undefined;
  afterAll(async () => {
    if (appPid !== undefined && alive(appPid)) process.kill(appPid, 'SIGKILL');
    await compute.close(5_000);
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('takes its app down with it', async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'gantry-orphans-'));
    const pidFile = path.join(dir, 'app.pid');
    const revision = appRevision();
    const exited = new Promise<void>((resolve) => compute.onExit(() => resolve()));
    await compute.start({
      runnerId: 'orphan-1',
      token: 't',
      controlUrl: 'http://127.0.0.1:9',
      environmentId: 'env-orphans',
      revision,
      env: { PID_FILE: pidFile },
    });
    appPid = await eventually(
      async () => Number((await readFile(pidFile, 'utf8').catch(() => '')).trim()) || undefined,
      90_000,
      'the app to start',
    );
    expect(alive(appPid)).toBe(true);
    const runnerPid = compute.pid('orphan-1')!;
    process.kill(runnerPid, 'SIGKILL');
    await exited;
    const pid = appPid;
    await eventually(() => (alive(pid) ? undefined : true), 30_000, 'the app to be gone');
    expect(alive(pid)).toBe(false);
  }, 150_000);
});

/** An app that copies its runner's environment, as the kernel shows it, and its own, to OUT_FILE. */
const SNOOP = `
  const fs = require('node:fs');
  const parent = fs.readFileSync('/proc/' + process.ppid + '/environ', 'utf8');
  fs.writeFileSync(process.env.OUT_FILE + '.tmp', JSON.stringify({ parent, own: process.env }));
  fs.renameSync(process.env.OUT_FILE + '.tmp', process.env.OUT_FILE);
  require('node:http').createServer((q, s) => s.end('ok')).listen(Number(process.env.PORT), '127.0.0.1');
`;

describe("an app reading its runner's /proc/<ppid>/environ", () => {
  const compute = new ProcessCompute({
    drainGraceSeconds: 2,
    controlEnv: {
      PATH: process.env['PATH'],
      AWS_REGION: 'eu-west-1',
      AWS_SECRET_ACCESS_KEY: 'control-aws-secret',
    },
  });
  let dir = '';
  let control: Server | undefined;
  afterAll(async () => {
    await compute.close(5_000);
    control?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('finds neither the runner token nor control’s AWS credentials, and the runner still has its token', async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'gantry-environ-'));
    const out = path.join(dir, 'seen.json');
    // Stands in for control, to see what the runner presents.
    const presented: string[] = [];
    control = createServer((q, s) => {
      presented.push(String(q.headers.authorization));
      s.writeHead(503).end();
    });
    await new Promise<void>((resolve) => control!.listen(0, '127.0.0.1', () => resolve()));
    const { port } = control.address() as AddressInfo;
    await compute.start({
      runnerId: 'snooped-1',
      token: 'runner-token-not-for-apps',
      controlUrl: `http://127.0.0.1:${port}`,
      environmentId: 'env-host',
      revision: { ...appRevision(), command: [process.execPath, '-e', SNOOP] },
      env: { OUT_FILE: out },
    });
    const seen = await eventually(
      async () => (await readFile(out, 'utf8').catch(() => undefined)) || undefined,
      90_000,
      'the app to start',
    );
    const { parent, own } = JSON.parse(seen) as { parent: string; own: Record<string, string> };
    // It did read its runner's environment: the runner's own settings are there.
    expect(parent).toContain('GANTRY_RUNNER_ID=snooped-1');
    for (const secret of ['runner-token-not-for-apps', 'control-aws-secret']) {
      expect(parent, secret).not.toContain(secret);
      expect(JSON.stringify(own), secret).not.toContain(secret);
    }
    await eventually(() => (presented.length > 0 ? true : undefined), 60_000, 'the runner to call control');
    expect(presented[0]).toBe('Bearer runner-token-not-for-apps');
  }, 150_000);
});

function appRevision(): Revision {
  return {
    id: 'rev-1',
    environment_id: 'env-host',
    number: 1,
    image: null,
    command: [process.execPath, '-e', APP],
    cwd: null,
    settings: { max_multiplexing: 1, startup_timeout: 120, machine_type: ['CPU'] },
    commit_sha: null,
    message: null,
    annotations: {},
    created_by: null,
    created_at: 0,
  } as Revision;
}

describe('the host-wide runner cap', () => {
  const compute = new ProcessCompute({ drainGraceSeconds: 2, maxRunners: 1 });
  afterAll(async () => {
    await compute.close(5_000);
  });

  it('refuses a start past it as a scheduling failure naming the setting, and starts again once a runner ended', async () => {
    const spec = (runnerId: string) => ({
      runnerId,
      token: 't',
      controlUrl: 'http://127.0.0.1:9',
      environmentId: 'env-host',
      revision: appRevision(),
      env: { PID_FILE: '/dev/null' },
    });
    await compute.start(spec('cap-1'));
    const refused = await compute.start(spec('cap-2')).catch((e: unknown) => e);
    expect(isSchedulingFailure(refused)).toBe(true);
    expect(String((refused as Error).message)).toMatch(/GANTRY_PROCESS_MAX_RUNNERS/);
    expect(compute.pid('cap-2')).toBeUndefined();

    const ended = new Promise<void>((resolve) => compute.onExit(() => resolve()));
    await compute.kill('cap-1');
    await ended;
    await compute.start(spec('cap-3'));
    expect(compute.pid('cap-3')).toBeGreaterThan(0);
  }, 120_000);
});
