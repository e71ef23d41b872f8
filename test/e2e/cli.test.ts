/**
 * The `gantry` CLI as a user runs it: spawned, against a real control service on the embedded
 * defaults, asserting what it prints and the exit codes it ends with.
 */
import { spawn } from 'node:child_process';
import { mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REPO_ROOT, startTestControl, type TestControl } from '../support/control.ts';

const GANTRY = path.join(REPO_ROOT, 'cli/bin/gantry.mjs');
const SECRET = 's3cr3t-value-9d1e';

/** An app that answers with the environment variable named in its input, after a log line. */
const ECHO_APP = `
import http from 'node:http';
http.createServer((req, res) => {
  if (req.url === '/health') return res.end('ok');
  let body = '';
  req.on('data', (c) => (body += c));
  req.on('end', () => {
    const input = body ? JSON.parse(body) : {};
    console.log('echoing ' + input.name);
    // Give the runner's log shipper a moment, so the line is stored before the result.
    setTimeout(() => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ name: input.name, value: process.env[input.name] ?? null }));
    }, 300);
  });
}).listen(Number(process.env.PORT), '127.0.0.1');
`;

interface Ran {
  code: number;
  stdout: string;
  stderr: string;
}

describe('gantry CLI', () => {
  let control: TestControl;
  let home: string;
  let appDir: string;
  let cliEnv: Record<string, string>;

  const gantry = (args: string[], env: Record<string, string | undefined> = {}): Promise<Ran> =>
    new Promise((resolve, reject) => {
      const merged: Record<string, string> = {};
      for (const [k, v] of Object.entries({ ...cliEnv, ...env })) if (v !== undefined) merged[k] = v;
      const p = spawn(process.execPath, [GANTRY, ...args], {
        cwd: home,
        env: merged,
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let stdout = '';
      let stderr = '';
      p.stdout.on('data', (c) => (stdout += c));
      p.stderr.on('data', (c) => (stderr += c));
      const timer = setTimeout(() => p.kill('SIGKILL'), 60_000);
      p.on('error', reject);
      p.on('close', (code) => {
        clearTimeout(timer);
        resolve({ code: code ?? -1, stdout, stderr });
      });
    });
  const json = <T = Record<string, unknown>>(r: Ran): T => {
    expect(r.code, r.stderr).toBe(0);
    return JSON.parse(r.stdout) as T;
  };

  beforeAll(async () => {
    control = await startTestControl();
    home = await mkdtemp(path.join(tmpdir(), 'gantry-cli-home-'));
    appDir = path.join(home, 'echo');
    await import('node:fs/promises').then((fs) => fs.mkdir(appDir));
    await writeFile(path.join(appDir, 'app.mjs'), ECHO_APP);
    await writeFile(
      path.join(appDir, 'gantry.json'),
      JSON.stringify({ app: 'acme/echo', command: ['node', 'app.mjs'], scaling: { min_concurrency: 1 } }),
    );
    const base: Record<string, string> = {};
    for (const [k, v] of Object.entries(process.env))
      if (v !== undefined && !k.startsWith('GANTRY_')) base[k] = v;
    cliEnv = {
      ...base,
      GANTRY_URL: control.url,
      GANTRY_KEY: control.adminKey,
      XDG_CONFIG_HOME: path.join(home, 'cfg'),
    };
  });
  afterAll(async () => {
    await control.close();
    await rm(home, { recursive: true, force: true });
  });

  it('helps, and refuses what it does not know with exit 2', async () => {
    const help = await gantry(['--help']);
    expect(help.code).toBe(0);
    expect(help.stdout).toContain('secrets set');
    expect(help.stdout).toContain('Exit codes');
    const cmd = await gantry(['rollback', '--help']);
    expect(cmd.stdout).toMatch(/Usage: gantry rollback <owner\/name>[\s\S]*\$ gantry rollback acme\/sdxl/);
    const bad = await gantry(['deplyo']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/Unknown command "deplyo"/);
  });

  it('creates an app and an environment, keeps secrets per environment, deploys and runs', async () => {
    expect((await gantry(['apps', 'create', 'acme/echo', '--auth', 'private'])).code).toBe(0);
    const again = await gantry(['apps', 'create', 'acme/echo']);
    expect(again.code).toBe(5);
    expect(again.stderr).toMatch(/already exists/);
    expect((await gantry(['environments', 'create', 'acme/echo', 'staging'])).stdout).toMatch(
      /acme\/echo--staging/,
    );

    const set = await gantry(['secrets', 'set', 'acme/echo', 'GREETING=bonjour', `TOKEN=${SECRET}`]);
    expect(set.code, set.stderr).toBe(0);
    expect(set.stdout).toMatch(/Set GREETING, TOKEN in production of acme\/echo/);
    expect(set.stderr).toMatch(/next runner/);
    const listed = await gantry(['secrets', 'list', 'acme/echo', '--json']);
    expect(json<{ secrets: { name: string }[] }>(listed).secrets.map((s) => s.name)).toEqual([
      'GREETING',
      'TOKEN',
    ]);
    expect(listed.stdout).not.toContain(SECRET);
    expect(
      json<{ secrets: unknown[] }>(await gantry(['secrets', 'list', 'acme/echo--staging', '--json'])).secrets,
    ).toEqual([]);

    const deployed = await gantry(['deploy', appDir, '--reset-scale', '--message', 'first']);
    expect(deployed.code, deployed.stderr).toBe(0);
    expect(deployed.stdout).toMatch(/Deployed revision 1 to acme\/echo production: live/);

    const ran = json<{ request_id: string; status: number; result: { value: string } }>(
      await gantry(['run', 'acme/echo', '--input', '{"name":"GREETING"}', '--json']),
    );
    expect(ran.status).toBe(200);
    expect(ran.result.value).toBe('bonjour');
    const logs = await gantry(['logs', 'acme/echo', '--request', ran.request_id]);
    expect(logs.code).toBe(0);
    expect(logs.stdout).toContain('echoing GREETING');
    expect((await gantry(['logs', 'acme/echo'])).stdout).toMatch(/\[[0-9a-f]{8}\] echoing GREETING/);
    const human = await gantry(['run', 'acme/echo', '-i', '{"name":"TOKEN"}']);
    expect(human.code).toBe(0);
    expect(JSON.parse(human.stdout).value).toBe(SECRET);
  });

  it('refuses a failed revision and rolls back at once', async () => {
    const broken = await gantry([
      'deploy',
      appDir,
      '--command',
      'node -e process.exit(3)',
      '--message',
      'broken',
      // Switch at once, whether or not a runner of revision 1 is still up: this test is about
      // rolling back from a failed revision (a rolling rollout would keep revision 1 instead).
      '--strategy',
      'recreate',
    ]);
    expect(broken.code).toBe(1);
    expect(broken.stderr).toMatch(
      /Revision 2 of acme\/echo production failed to start: .*exited with code 3/,
    );

    const revs = json<{ revisions: { number: number; active: boolean; status: string }[] }>(
      await gantry(['revisions', 'list', 'acme/echo', '--json']),
    );
    expect(revs.revisions.map((r) => [r.number, r.active, r.status])).toEqual([
      [2, true, 'failed'],
      [1, false, 'ok'],
    ]);
    const back = await gantry(['rollback', 'acme/echo']);
    expect(back.code, back.stderr).toBe(0);
    expect(back.stdout).toMatch(/now serves revision 1 \(was 2\)/);
    expect((await gantry(['revisions', 'list', 'acme/echo'])).stdout).toMatch(/^1\s+\*\s+ok/m);

    const refused = await gantry(['rollback', 'acme/echo', '--to', '2']);
    expect(refused.code).toBe(5);
    expect(refused.stderr).toMatch(/Revision 2 of production failed to start.*code 3/);
    const active = await gantry(['revisions', 'delete', 'acme/echo', '1']);
    expect(active.code).toBe(5);
    expect(active.stderr).toMatch(/active revision/);
    const missing = await gantry(['revisions', 'delete', 'acme/echo', '7']);
    expect(missing.code).toBe(3);
    expect(missing.stderr).toMatch(/no revision 7 \(it has: 2, 1\)/);
  });

  it('a rolling deploy of a broken revision is aborted and the serving revision stays', async () => {
    const broken = await gantry([
      'deploy',
      appDir,
      '--command',
      'node -e process.exit(3)',
      '--strategy',
      'rolling',
    ]);
    expect(broken.code).toBe(1);
    expect(broken.stderr).toMatch(/Revision 3 of acme\/echo production failed to start/);
    expect(broken.stderr).toMatch(/The rollout was aborted: revision 1 keeps serving\./);
    const revs = json<{ revisions: { number: number; active: boolean; status: string }[] }>(
      await gantry(['revisions', 'list', 'acme/echo', '--json']),
    );
    expect(revs.revisions.find((r) => r.active)?.number).toBe(1);
    expect(revs.revisions.find((r) => r.number === 3)).toMatchObject({ active: false, status: 'failed' });
  });

  it('rollout restarts the runners of the active revision; an unknown app is exit 3', async () => {
    const restart = await gantry(['rollout', 'acme/echo', '--force', '--json']);
    expect(restart.code, restart.stderr).toBe(0);
    expect(json<{ to_revision: number; strategy: string; state: string }>(restart)).toMatchObject({
      to_revision: 1,
      strategy: 'recreate',
    });
    const rolling = await gantry(['rollout', 'acme/echo']);
    expect(rolling.code, rolling.stderr).toBe(0);
    expect(rolling.stdout).toMatch(/(Restarting|Restarted) production of acme\/echo on revision 1/);
    const missing = await gantry(['rollout', 'acme/nope']);
    expect(missing.code).toBe(3);
    expect(missing.stderr).toMatch(/No app acme\/nope/);
  });

  it('names what was not found and what exists, with exit 3', async () => {
    const app = await gantry(['revisions', 'list', 'acme/nope']);
    expect(app.code).toBe(3);
    expect(app.stderr).toMatch(/No app acme\/nope \(apps of acme: acme\/echo\)/);
    const env = await gantry(['secrets', 'list', 'acme/echo', '--env', 'nope']);
    expect(env.code).toBe(3);
    expect(env.stderr).toMatch(/no environment "nope" \(it has: production, staging\)/);
    const runner = await gantry(['runners', 'stop', 'acme/echo', 'nosuch1']);
    expect(runner.code).toBe(3);
    // The runner starting after the rollback may still be in crash backoff: "running" can be none.
    expect(runner.stderr).toMatch(/No runner nosuch1 in production \(running: /);
    const runners = json<{ runners: { state: string; revision: number }[] }>(
      await gantry(['runners', 'list', 'acme/echo', '--all', '--json']),
    );
    expect(runners.runners.some((r) => r.revision === 2 && r.state === 'CRASH_BACKOFF')).toBe(true);
  });

  it('sizes and flushes a queue; flushed requests complete as cancelled', async () => {
    // staging gets an image revision the process driver cannot start: requests wait in its queue.
    const rev = await control.admin('/v1/apps/acme/echo/environments/staging/revisions', {
      body: { image: 'example/none@sha256:0', activate: true, strategy: 'recreate' },
    });
    expect(rev.status).toBe(201);
    const ids: string[] = [];
    for (let i = 0; i < 2; i++) {
      const r = await control.admin('/queue/acme/echo--staging', { body: { name: 'X' } });
      ids.push(((await r.json()) as { request_id: string }).request_id);
    }
    expect(json(await gantry(['queue', 'size', 'acme/echo', '--env', 'staging', '--json']))).toMatchObject({
      queued: 2,
      in_progress: 0,
    });
    const unconfirmed = await gantry(['queue', 'flush', 'acme/echo', '--env', 'staging']);
    expect(unconfirmed.code).toBe(2);
    expect(unconfirmed.stderr).toMatch(/pass --yes/);
    expect(
      json(await gantry(['queue', 'flush', 'acme/echo', '--env', 'staging', '--yes', '--json'])),
    ).toEqual({
      environment: 'staging',
      cancelled: 2,
    });
    const status = await control.admin(`/queue/acme/echo--staging/requests/${ids[0]}/status`);
    expect(((await status.json()) as { status: string }).status).toBe('COMPLETED');
    const result = await control.admin(`/queue/acme/echo--staging/requests/${ids[0]}`);
    expect(result.headers.get('x-fal-error-type')).toBe('client_cancelled');
  });

  it('creates, lists and revokes keys; an API key calls its owner’s app but may not manage', async () => {
    const created = json<{ id: string; key: string; scope: string }>(
      await gantry(['keys', 'create', '--scope', 'API', '--owner', 'acme', '--description', 'ci', '--json']),
    );
    expect(created.key).toMatch(/^gk_api_/);
    const list = await gantry(['keys', 'list']);
    expect(list.stdout).toMatch(new RegExp(`${created.id}\\s+API\\s+acme`));
    expect(list.stdout).not.toContain(created.key);

    const manage = await gantry(['apps', 'list'], { GANTRY_KEY: created.key });
    expect(manage.code).toBe(4);
    expect(manage.stderr).toMatch(/ADMIN key/);
    const call = await gantry(['run', 'acme/echo', '--input', '{"name":"GREETING"}', '--json'], {
      GANTRY_KEY: created.key,
    });
    expect(json<{ result: { value: string } }>(call).result.value).toBe('bonjour');
    expect((await gantry(['keys', 'revoke', created.id, '--yes'])).code).toBe(0);
    const revoked = await gantry(['run', 'acme/echo', '--input', '{}'], { GANTRY_KEY: created.key });
    // A private app answers a caller who may not call it as a missing one (no probing of names).
    expect(revoked.code).toBe(3);
    expect(revoked.stderr).toMatch(/No app acme\/echo that this caller may call/);
    const nokey = await gantry(['keys', 'revoke', 'key_nope', '--yes']);
    expect(nokey.code).toBe(3);
    expect(nokey.stderr).toMatch(/No key key_nope \(keys: admin/);
  });

  it('guard rails: revoke asks, a refusal is exit 5, scale lists its settings and names code settings', async () => {
    const k = json<{
      id: string;
      apps: string[];
      environments: string[];
      rate_limit: number;
      expires_at: string;
    }>(
      await gantry([
        'keys',
        'create',
        '--scope',
        'API',
        '--owner',
        'acme',
        '--apps',
        'acme/echo',
        '--envs',
        'production,staging',
        '--expires',
        '30d',
        '--rate-limit',
        '60',
        '--json',
      ]),
    );
    expect(k).toMatchObject({ apps: ['acme/echo'], environments: ['production', 'staging'], rate_limit: 60 });
    expect(Date.parse(k.expires_at)).toBeGreaterThan(Date.now() + 29 * 86_400_000);
    const listed = await gantry(['keys', 'list']);
    expect(listed.stdout).toMatch(
      new RegExp(`${k.id}\\s+API\\s+acme\\s+apps=acme/echo envs=production,staging 60/min`),
    );

    const unasked = await gantry(['keys', 'revoke', k.id]);
    expect(unasked.code).toBe(2);
    expect(unasked.stderr).toMatch(/--yes/);
    expect((await gantry(['keys', 'list'])).stdout).toContain(k.id);
    const protectedKey = await gantry(['keys', 'revoke', 'admin', '--yes']);
    expect(protectedKey.code).toBe(5);
    expect(protectedKey.stderr).toMatch(/GANTRY_ADMIN_KEY/);

    const help = await gantry(['scale', '--help']);
    expect(help.code).toBe(0);
    for (const f of ['--keep-alive', '--min-concurrency', '--max-concurrency', '--scaling-delay']) {
      expect(help.stdout).toContain(f);
    }
    const code = await gantry(['scale', 'acme/echo', '--max-multiplexing', '4']);
    expect(code.code).toBe(2);
    expect(code.stderr).toMatch(/max_multiplexing is a code setting: set it in gantry.json and redeploy/);

    const missing = await gantry(['deploy', path.join(home, 'no-such-folder')]);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/No folder .*no-such-folder to deploy/);

    const audit = json<{ entries: { action: string; target: string; status: number; actor: string }[] }>(
      await gantry(['audit', '--since', '1h', '--json']),
    );
    expect(audit.entries.map((e) => `${e.action} ${e.target} ${e.status}`)).toEqual(
      expect.arrayContaining(['key.create /keys 201', 'key.revoke admin 409']),
    );
    const table = await gantry(['audit', '--limit', '5']);
    expect(table.code).toBe(0);
    expect(table.stdout).toMatch(/^SEQ\s+AT\s+ACTOR\s+ACTION/);
    expect(table.stdout).toMatch(/admin\s+key\.revoke\s+admin\s+409/);
  });

  it('deploys an image by digest through the same gate, and refuses a reference it cannot pin', async () => {
    const digest = `sha256:${'0'.repeat(64)}`;
    const tag = await gantry(['deploy', '--image', 'ghcr.io/acme/sdxl:latest', '--app', 'acme/img']);
    expect(tag.code).toBe(2);
    expect(tag.stderr).toMatch(/"ghcr.io\/acme\/sdxl:latest" is not pinned by digest/);
    expect(tag.stderr).toMatch(/A revision is immutable/);
    const malformed = await gantry(['deploy', '--image', `Acme/SDXL@${digest}`, '--app', 'acme/img']);
    expect(malformed.code).toBe(2);
    expect(malformed.stderr).toMatch(/is not an image reference/);
    const both = await gantry(['deploy', appDir, '--image', `ghcr.io/acme/sdxl@${digest}`]);
    expect(both.code).toBe(2);
    expect(both.stderr).toMatch(/Deploy a folder or an image, not both/);
    expect((await gantry(['apps', 'list', '--json'])).stdout).not.toContain('acme/img');

    // This control runs local commands only: the deploy gate refuses the image, and the deploy says why.
    const image = `ghcr.io/acme/sdxl@${digest}`;
    const gated = await gantry(['deploy', '--image', image, '--app', 'acme/img', '--json']);
    expect(gated.code, gated.stderr).toBe(1);
    // With --json, the deploy's summary, then the error.
    const lines = gated.stdout.trim().split('\n');
    expect(JSON.parse(lines.slice(0, -1).join('\n'))).toMatchObject({ revision: 1, image, status: 'failed' });
    expect(JSON.parse(lines.at(-1)!)).toMatchObject({ exit_code: 1 });
    expect(gated.stderr).toMatch(
      /Revision 1 of acme\/img production failed to start: .*could not be started/,
    );
    expect(gated.stderr).toMatch(/no revision serves this environment yet/);
    const revs = json<{ revisions: { number: number; image: string | null; active: boolean }[] }>(
      await gantry(['revisions', 'list', 'acme/img', '--json']),
    );
    expect(revs.revisions).toMatchObject([{ number: 1, image, active: false }]);
    expect((await gantry(['apps', 'delete', 'acme/img', '--yes'])).code).toBe(0);
  });

  it('says so when gantry.json "scaling" is not applied to an existing app', async () => {
    const r = await gantry(['deploy', appDir, '--app', 'acme/kept', '--no-wait', '--json']);
    expect(json<{ scaling: string }>(r).scaling).toBe('applied');
    const again = await gantry(['deploy', appDir, '--app', 'acme/kept', '--no-wait', '--json']);
    expect(json<{ scaling: string }>(again).scaling).toBe('kept');
    expect(again.stderr).toMatch(
      /"scaling" in gantry.json was not applied: acme\/kept exists .* --reset-scale/,
    );
    const reset = await gantry([
      'deploy',
      appDir,
      '--app',
      'acme/kept',
      '--no-wait',
      '--reset-scale',
      '--json',
    ]);
    expect(json<{ scaling: string }>(reset).scaling).toBe('applied');
    expect((await gantry(['apps', 'delete', 'acme/kept', '--yes'])).code).toBe(0);
  });

  it('scales, protects production, deletes an environment and the app', async () => {
    expect(
      json<{ scaling: { keep_alive: number } }>(
        await gantry(['scale', 'acme/echo', '--keep-alive', '7', '--json']),
      ).scaling.keep_alive,
    ).toBe(7);
    const bad = await gantry(['scale', 'acme/echo', '--bogus', '1']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/Unknown setting "bogus"\. Allowed: keep_alive/);
    expect((await gantry(['environments', 'delete', 'acme/echo', 'production', '--yes'])).code).toBe(5);
    expect((await gantry(['environments', 'delete', 'acme/echo', 'staging', '--yes'])).code).toBe(0);
    const envs = json<{ environments: { name: string }[] }>(
      await gantry(['environments', 'list', 'acme/echo', '--json']),
    );
    expect(envs.environments.map((e) => e.name)).toEqual(['production']);
    expect((await gantry(['apps', 'delete', 'acme/echo', '--yes'])).stdout).toMatch(/Deleted acme\/echo/);
  });

  it('logs in once and uses the saved URL and key (mode 0600)', async () => {
    const login = await gantry(['login', '--url', control.url, '--key', control.adminKey], {
      GANTRY_URL: undefined,
      GANTRY_KEY: undefined,
    });
    expect(login.code, login.stderr).toBe(0);
    expect(login.stdout).toMatch(/with an ADMIN key/);
    const file = path.join(home, 'cfg', 'gantry', 'config.json');
    expect((await stat(file)).mode & 0o777).toBe(0o600);
    const apps = await gantry(['apps', 'list', '--json'], { GANTRY_URL: undefined, GANTRY_KEY: undefined });
    expect(json<{ apps: unknown[] }>(apps).apps).toEqual([]);
    const wrong = await gantry(['login', '--url', control.url, '--key', 'gk_wrong'], {
      GANTRY_KEY: undefined,
    });
    expect(wrong.code).toBe(4);
  });
});
