import { spawn } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseEnv } from 'node:util';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type RegistrationServer, SECRET_FILE, startRegistration } from './app-registration.ts';
import { loadMountedConfig, loadRegistrationConfig, type RegistrationConfig } from './config.ts';

const MANIFEST = readFileSync(new URL('../app.yml', import.meta.url), 'utf8');
const PEM = generateKeyPairSync('rsa', { modulusLength: 1024 })
  .privateKey.export({ type: 'pkcs1', format: 'pem' })
  .toString();

/** GitHub's manifest conversion, answered in process. */
function fakeGitHub(status = 201) {
  const calls: { url: string; method: string }[] = [];
  const fetch = (async (url: string, init: RequestInit) => {
    calls.push({ url, method: String(init.method) });
    const body =
      status === 201
        ? {
            id: 4242,
            slug: 'gantry-acme',
            name: 'Gantry (acme)',
            html_url: 'https://github.com/apps/gantry-acme',
            pem: PEM,
            webhook_secret: 'whsec-123',
          }
        : { message: 'The code has expired' };
    return new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/json' } });
  }) as typeof globalThis.fetch;
  return { fetch, calls };
}

let dir: string;
let server: RegistrationServer | undefined;
beforeEach(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'gantry-registration-'));
});
afterEach(async () => {
  await server?.close();
  server = undefined;
  await rm(dir, { recursive: true, force: true });
});

async function start(config: Partial<RegistrationConfig> = {}, github = fakeGitHub()) {
  server = await startRegistration({
    config: { port: 0, host: '127.0.0.1', ...config },
    manifestYaml: MANIFEST,
    outDir: dir,
    fetch: github.fetch,
    log: () => {},
  });
  return { server, github };
}

const fromHtml = (s: string) =>
  s
    .replace(/&quot;/g, '"')
    .replace(/&#39;/g, "'")
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/&amp;/g, '&');

/** The form the first page posts to GitHub: where to, with which manifest. */
async function registrationForm(url: string) {
  const html = await (await fetch(url)).text();
  const action = fromHtml(/<form method="post" action="([^"]+)"/.exec(html)![1]!);
  const manifest = JSON.parse(fromHtml(/name="manifest" value="([^"]+)"/.exec(html)![1]!));
  return { action: new URL(action), manifest };
}

describe('npm run github-app before the App exists', () => {
  it('needs neither GANTRY_URL nor GANTRY_KEY: it registers the App instead of refusing to start', () => {
    expect(loadRegistrationConfig({})).toEqual({ port: 3000, host: '127.0.0.1' });
    expect(
      loadRegistrationConfig({
        GANTRY_URL: 'http://10.0.0.5:8080',
        GANTRY_PUBLIC_URL: 'https://gantry.example.com/',
      })?.controlUrl,
    ).toBe('https://gantry.example.com');
    // Once any credential is set, the App runs (and its loadConfig names what is missing).
    expect(loadRegistrationConfig({ APP_ID: '1' })).toBeUndefined();
    expect(() => loadRegistrationConfig({ GANTRY_URL: 'not a url' })).toThrow(
      /GANTRY_PUBLIC_URL \(or GANTRY_URL\) must be a URL/,
    );
  });

  it('serves the registration page when started as `npm run github-app` with no settings', async () => {
    // The npm script's command, from its folder, with no Gantry or App setting in the environment.
    const env = Object.fromEntries(
      Object.entries(process.env).filter(
        ([k]) => !k.startsWith('GANTRY_') && !['APP_ID', 'PRIVATE_KEY', 'WEBHOOK_SECRET'].includes(k),
      ),
    );
    const child = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts'], {
      cwd: fileURLToPath(new URL('..', import.meta.url)),
      env: { ...env, PORT: '0' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    try {
      let out = '';
      const url = await new Promise<string>((resolve, reject) => {
        child.stdout.on('data', (c: Buffer) => {
          out += c.toString();
          const m = /Open (http:\/\/\S+\/) to register/.exec(out);
          if (m) resolve(m[1]!);
        });
        child.stderr.on('data', (c: Buffer) => {
          out += c.toString();
        });
        child.on('exit', (code) => reject(new Error(`exited ${code}: ${out}`)));
      });
      const res = await fetch(url);
      expect(res.status).toBe(200);
      expect(await res.text()).toContain('<input name="control"');
    } finally {
      child.kill('SIGTERM');
    }
  }, 60_000);

  it("asks for control's URL when it does not know it", async () => {
    const { server } = await start();
    const res = await fetch(server.url);
    expect(res.status).toBe(200);
    expect(await res.text()).toContain('<input name="control"');
    const bad = await fetch(`${server.url}?control=ftp://x`);
    expect(bad.status).toBe(400);
    expect(await bad.text()).toContain('ftp://x is not an http(s) URL');
  });

  it("posts app.yml to GitHub with control's webhook URL and this server as the redirect", async () => {
    const { server } = await start({ controlUrl: 'https://gantry.example.com' });
    const { action, manifest } = await registrationForm(server.url);
    expect(`${action.origin}${action.pathname}`).toBe('https://github.com/settings/apps/new');
    expect(action.searchParams.get('state')).toMatch(/^[0-9a-f]{32}$/);
    expect(manifest.hook_attributes).toEqual({
      url: 'https://gantry.example.com/api/github/webhooks',
      active: true,
    });
    expect(manifest.redirect_url).toBe(`${server.url}setup/done`);
    // The App's homepage is the installed control, not a placeholder.
    expect(manifest.url).toBe('https://gantry.example.com');
    expect(manifest.default_permissions).toMatchObject({ deployments: 'write', contents: 'read' });
    expect(manifest.default_events).toContain('push');
    // The URL typed on the page wins over the one from the environment.
    const typed = await registrationForm(
      `${server.url}?control=${encodeURIComponent('https://other.example.com/')}`,
    );
    expect(typed.manifest.hook_attributes.url).toBe('https://other.example.com/api/github/webhooks');
    expect(typed.manifest.url).toBe('https://other.example.com');
  });

  it('registers under an organisation on GitHub Enterprise Server when asked', async () => {
    const github = fakeGitHub();
    const { server } = await start(
      { controlUrl: 'https://g.example.com', gheHost: 'ghe.example.com', org: 'acme' },
      github,
    );
    const { action } = await registrationForm(server.url);
    expect(`${action.origin}${action.pathname}`).toBe(
      'https://ghe.example.com/organizations/acme/settings/apps/new',
    );
    await fetch(`${server.url}setup/done?code=c0de&state=${action.searchParams.get('state')}`);
    expect(github.calls).toEqual([
      { url: 'https://ghe.example.com/api/v3/app-manifests/c0de/conversions', method: 'POST' },
    ]);
    expect(parseEnv(await readFile(path.join(dir, '.env'), 'utf8')).GHE_HOST).toBe('ghe.example.com');
  });

  it('writes the credentials where control and the install read them, mode 0600, keeping the rest of .env', async () => {
    // Left by an earlier registration: a quoted key over several lines, and settings to keep.
    await writeFile(
      path.join(dir, '.env'),
      'GANTRY_URL=https://gantry.example.com\nAPP_ID=1\nPRIVATE_KEY="-----BEGIN RSA PRIVATE KEY-----\nold\n-----END RSA PRIVATE KEY-----"\nGANTRY_KEY=gk admin\n',
    );
    const { server, github } = await start({ controlUrl: 'https://gantry.example.com' });
    const { action } = await registrationForm(server.url);
    const res = await fetch(`${server.url}setup/done?code=c0de&state=${action.searchParams.get('state')}`);
    expect(res.status).toBe(200);
    expect(await res.text()).toContain('https://github.com/apps/gantry-acme/installations/new');
    expect(github.calls).toEqual([
      { url: 'https://api.github.com/app-manifests/c0de/conversions', method: 'POST' },
    ]);
    await expect(server.registered).resolves.toMatchObject({ id: 4242, slug: 'gantry-acme' });

    const expected = { appId: 4242, privateKey: PEM.trim(), webhookSecret: 'whsec-123' };
    // A PEM read back may or may not keep its final newline; the key is the same.
    const read = (env: Record<string, string | undefined>) => {
      const c = loadMountedConfig(env);
      return c && { ...c, privateKey: c.privateKey.trim() };
    };
    const env = parseEnv(await readFile(path.join(dir, '.env'), 'utf8'));
    expect(env.GANTRY_URL).toBe('https://gantry.example.com');
    expect(env.GANTRY_KEY).toBe('gk admin');
    // What the App run on its own and control (after `set -a; . .env`) make of it.
    expect(read(env)).toEqual(expected);
    // The AWS install's secret: ECS hands each field to control as the variable of that name.
    const secret = JSON.parse(await readFile(path.join(dir, SECRET_FILE), 'utf8'));
    expect(Object.keys(secret).sort()).toEqual(['APP_ID', 'PRIVATE_KEY', 'WEBHOOK_SECRET']);
    expect(read(secret)).toEqual(expected);
    for (const f of ['.env', SECRET_FILE]) expect((await stat(path.join(dir, f))).mode & 0o777).toBe(0o600);
  });

  it('refuses a redirect it did not start, and reports a code GitHub refuses, writing nothing', async () => {
    const github = fakeGitHub(422);
    const { server } = await start({ controlUrl: 'https://gantry.example.com' }, github);
    const forged = await fetch(`${server.url}setup/done?code=c0de&state=not-ours`);
    expect(forged.status).toBe(400);
    expect(github.calls).toEqual([]);
    const { action } = await registrationForm(server.url);
    const refused = await fetch(`${server.url}setup/done?code=old&state=${action.searchParams.get('state')}`);
    expect(refused.status).toBe(502);
    expect(await refused.text()).toContain('The code has expired');
    await expect(stat(path.join(dir, SECRET_FILE))).rejects.toThrow(/ENOENT/);
  });
});
