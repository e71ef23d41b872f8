/**
 * What a newcomer does first: `npm start` (control/src/main.ts on the embedded defaults) serves
 * local/hello, prints where the admin key is, keeps it across restarts, and stops cleanly.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../support/control.ts';

let dataDir: string;

beforeAll(async () => {
  dataDir = await mkdtemp(path.join(tmpdir(), 'gantry-start-'));
});
afterAll(async () => {
  await rm(dataDir, { recursive: true, force: true });
});

interface Started {
  proc: ChildProcess;
  url: string;
  output: () => string;
  exited: Promise<number | null>;
}

/** Starts control the way `npm start` does, on a free port, and waits for its banner. */
async function start(env: Record<string, string> = {}): Promise<Started> {
  const proc = spawn(process.execPath, ['--import', 'tsx', 'control/src/main.ts'], {
    cwd: REPO_ROOT,
    env: {
      PATH: process.env.PATH ?? '',
      HOME: process.env.HOME ?? '',
      PORT: '0',
      GANTRY_DATA_DIR: dataDir,
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  proc.stdout!.on('data', (d) => {
    out += String(d);
  });
  proc.stderr!.on('data', (d) => {
    out += String(d);
  });
  const exited = new Promise<number | null>((resolve) => proc.once('exit', (code) => resolve(code)));
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no banner within 120 s:\n${out}`)), 120_000);
    const check = () => {
      const m = /Gantry control is listening on (http:\/\/\S+)/.exec(out);
      if (m && out.includes('API reference')) {
        clearTimeout(timer);
        resolve(m[1]!);
      }
    };
    proc.stdout!.on('data', check);
    void exited.then((code) => reject(new Error(`exited ${code} before its banner:\n${out}`)));
  });
  return { proc, url, output: () => out, exited };
}

describe('npm start', () => {
  it('serves local/hello with curl, keeps the admin key private, and stops on SIGTERM', async () => {
    const first = await start();
    try {
      expect(first.output()).toMatch(/Deployed examples\/hello as local\/hello \(revision 1, public\)/);
      expect(first.output()).toContain(`curl -s -X POST ${first.url}/run/local/hello`);
      expect(first.output()).toContain("fal.config({ proxyUrl: { url: '");
      const res = await fetch(`${first.url}/run/local/hello`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ name: 'Ada' }),
      });
      expect(res.status).toBe(200);
      expect(await res.json()).toEqual({ message: 'Hello, Ada!' });

      const keyFile = path.join(dataDir, 'admin.key');
      expect((await stat(keyFile)).mode & 0o777).toBe(0o600);
      const key = (await readFile(keyFile, 'utf8')).trim();
      expect(first.output()).toContain(key);
      const apps = await fetch(`${first.url}/v1/apps`, { headers: { authorization: `Key ${key}` } });
      expect(apps.status).toBe(200);

      // The web console at the printed URL, with nothing built beforehand.
      expect(first.output()).toContain(`Web console: ${first.url}/`);
      const page = await fetch(`${first.url}/`);
      expect(page.headers.get('content-type')).toMatch(/^text\/html/);
      const html = await page.text();
      expect(html).toContain('<title>Gantry console</title>');
      const script = /src="([^"]+\.js)"/.exec(html)?.[1];
      expect((await fetch(`${first.url}${script}`)).status).toBe(200);
    } finally {
      first.proc.kill('SIGTERM');
    }
    expect(await first.exited).toBe(0);

    // A second start reuses the key and the revision, and does not print the key again.
    const second = await start();
    try {
      const key = (await readFile(path.join(dataDir, 'admin.key'), 'utf8')).trim();
      expect(second.output()).not.toContain(key);
      expect(second.output()).toMatch(/revision 1, public/);
      const res = await fetch(`${second.url}/v1/apps/local/hello/environments/production/revisions`, {
        headers: { authorization: `Key ${key}` },
      });
      expect(((await res.json()) as { revisions: unknown[] }).revisions).toHaveLength(1);
    } finally {
      second.proc.kill('SIGTERM');
    }
    expect(await second.exited).toBe(0);
  });

  it('a bad setting stops it with a message naming the setting, exit code 2', async () => {
    const proc = spawn(process.execPath, ['--import', 'tsx', 'control/src/main.ts'], {
      cwd: REPO_ROOT,
      env: { PATH: process.env.PATH ?? '', PORT: 'eighty', GANTRY_DATA_DIR: dataDir },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let err = '';
    proc.stderr!.on('data', (d) => {
      err += String(d);
    });
    const code = await new Promise<number | null>((resolve) => proc.once('exit', resolve));
    expect(code).toBe(2);
    expect(err).toMatch(/PORT must be a whole number from 0 to 65535, got "eighty"/);
    expect(err).not.toMatch(/\n\s+at /);
  });
});
