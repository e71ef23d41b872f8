/**
 * Registering the App from its manifest: what `npm run github-app` serves until the App has
 * credentials. A page on loopback posts `github-app/app.yml` to GitHub's "register a GitHub App"
 * form, with control's webhook URL (`<control>/api/github/webhooks`, where control serves the App)
 * and this server as the redirect; GitHub sends the browser back with a code, exchanged here for
 * the App's id, private key and webhook secret. They are written where Gantry reads them:
 *
 * - `.env` beside the App: read by the App run on its own at its next start, and by a shell before
 *   `npm start` (`set -a; . github-app/.env; set +a`);
 * - `github-app.secret.json`: exactly the AWS install's GitHub App secret (APP_ID, PRIVATE_KEY,
 *   WEBHOOK_SECRET), for `aws secretsmanager put-secret-value --secret-string file://…`.
 *
 * Both are written mode 0600; the private key goes into `.env` as base64, one line, which the
 * App's config reads back.
 */
import { randomBytes } from 'node:crypto';
import { chmod, readFile, writeFile } from 'node:fs/promises';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { parseEnv } from 'node:util';
import YAML from 'yaml';
import type { RegistrationConfig } from './config.ts';

/** Where control serves the App's webhooks (its extension route). */
export const WEBHOOK_PATH = '/api/github/webhooks';
export const SECRET_FILE = 'github-app.secret.json';

/** The App GitHub made from the manifest, as the conversion answers it. */
export interface RegisteredApp {
  id: number;
  slug: string;
  name: string;
  htmlUrl: string;
  pem: string;
  webhookSecret: string;
}

export interface RegistrationOptions {
  config: RegistrationConfig;
  /** The manifest's YAML (github-app/app.yml). */
  manifestYaml: string;
  /** Where `.env` and the secret file go (the App's folder). */
  outDir: string;
  fetch?: typeof fetch;
  log?: (line: string) => void;
}

export interface RegistrationServer {
  /** The page to open. */
  url: string;
  /** Settles once an App was registered and its credentials written. */
  registered: Promise<RegisteredApp>;
  close(): Promise<void>;
}

/**
 * The manifest GitHub receives: app.yml, with control's webhook URL and our redirect. The App's
 * homepage is the control it serves: the one page every installation has and owns.
 */
export function appManifest(
  manifestYaml: string,
  controlUrl: string,
  redirectUrl: string,
): Record<string, unknown> {
  const base = YAML.parse(manifestYaml) as Record<string, unknown>;
  const control = controlUrl.replace(/\/+$/, '');
  return {
    ...base,
    url: control,
    hook_attributes: { url: `${control}${WEBHOOK_PATH}`, active: true },
    redirect_url: redirectUrl,
  };
}

const escapeHtml = (s: string) =>
  s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);

function page(title: string, body: string): string {
  return `<!doctype html><html><head><meta charset="utf-8"><title>${escapeHtml(title)}</title>
<style>body{font:16px/1.5 system-ui,sans-serif;max-width:44rem;margin:3rem auto;padding:0 1rem}
code,pre{background:#f3f3f3;padding:.1rem .3rem}pre{padding:.8rem;overflow:auto}input{width:100%;font:inherit}
button{font:inherit;padding:.4rem 1rem}</style></head><body><h1>${escapeHtml(title)}</h1>${body}</body></html>`;
}

export async function startRegistration(o: RegistrationOptions): Promise<RegistrationServer> {
  const doFetch = o.fetch ?? fetch;
  const log = o.log ?? ((line: string) => console.log(line));
  const { config } = o;
  const github = config.gheHost ?? 'github.com';
  const api = config.gheHost ? `https://${config.gheHost}/api/v3` : 'https://api.github.com';
  const newAppUrl = `https://${github}${config.org ? `/organizations/${encodeURIComponent(config.org)}` : ''}/settings/apps/new`;
  // GitHub hands `state` back on the redirect: a code arriving without ours was not asked for here.
  const state = randomBytes(16).toString('hex');
  let settle: { resolve(app: RegisteredApp): void };
  const registered = new Promise<RegisteredApp>((resolve) => {
    settle = { resolve };
  });

  const send = (res: ServerResponse, status: number, html: string) => {
    res.writeHead(status, { 'content-type': 'text/html; charset=utf-8' }).end(html);
  };

  const home = (req: IncomingMessage, res: ServerResponse, query: URLSearchParams) => {
    const asked = query.get('control')?.trim();
    const controlUrl = asked || config.controlUrl;
    const controlForm = `<form method="get" action="/"><p><label>Control's URL, as GitHub will reach it
<input name="control" placeholder="https://gantry.example.com" value="${escapeHtml(controlUrl ?? '')}"></label></p>
<button>Use this URL</button></form>`;
    if (!controlUrl || !URL.canParse(controlUrl) || !/^https?:$/.test(new URL(controlUrl).protocol)) {
      const problem = controlUrl
        ? `<p><strong>${escapeHtml(controlUrl)} is not an http(s) URL.</strong></p>`
        : '';
      return send(
        res,
        controlUrl ? 400 : 200,
        page(
          'Register the Gantry GitHub App',
          `${problem}<p>GitHub sends the App's webhooks to control. Where is it?</p>${controlForm}`,
        ),
      );
    }
    const redirect = `http://${req.headers.host ?? `${config.host}:${config.port}`}/setup/done`;
    const manifest = appManifest(o.manifestYaml, controlUrl, redirect);
    const hook = (manifest.hook_attributes as { url: string }).url;
    send(
      res,
      200,
      page(
        'Register the Gantry GitHub App',
        `<p>GitHub will send the App's webhooks to <code>${escapeHtml(hook)}</code>.</p>
<form method="post" action="${escapeHtml(`${newAppUrl}?state=${state}`)}">
<input type="hidden" name="manifest" value="${escapeHtml(JSON.stringify(manifest))}">
<button>Register on ${escapeHtml(github)}${config.org ? ` for ${escapeHtml(config.org)}` : ''}</button></form>
<p>Another control URL?</p>${controlForm}`,
      ),
    );
  };

  const done = async (res: ServerResponse, query: URLSearchParams) => {
    const code = query.get('code');
    if (!code || query.get('state') !== state) {
      return send(
        res,
        400,
        page(
          'Not registered',
          '<p>This link did not come from the registration started here. Start again at <a href="/">the first page</a>.</p>',
        ),
      );
    }
    const answer = await doFetch(`${api}/app-manifests/${encodeURIComponent(code)}/conversions`, {
      method: 'POST',
      headers: { accept: 'application/vnd.github+json', 'user-agent': 'gantry-github-app' },
    });
    const body = (await answer.json().catch(() => ({}))) as Record<string, unknown>;
    if (answer.status !== 201) {
      const why = typeof body.message === 'string' ? body.message : `HTTP ${answer.status}`;
      return send(
        res,
        502,
        page(
          'Not registered',
          `<p>GitHub refused the registration: ${escapeHtml(why)}. Codes expire within an hour; start again at <a href="/">the first page</a>.</p>`,
        ),
      );
    }
    const app: RegisteredApp = {
      id: Number(body.id),
      slug: String(body.slug),
      name: String(body.name),
      htmlUrl: String(body.html_url),
      pem: String(body.pem),
      webhookSecret: String(body.webhook_secret),
    };
    const files = await writeCredentials(o.outDir, app, config.gheHost);
    const steps = nextSteps(app, files);
    for (const line of steps) log(line);
    send(res, 200, page(`Registered ${app.name}`, `<pre>${escapeHtml(steps.join('\n'))}</pre>`));
    settle.resolve(app);
  };

  const server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://registration');
    const route =
      req.method === 'GET' && url.pathname === '/'
        ? Promise.resolve(home(req, res, url.searchParams))
        : req.method === 'GET' && url.pathname === '/setup/done'
          ? done(res, url.searchParams)
          : Promise.resolve(send(res, 404, page('Not found', '<p><a href="/">Start here</a>.</p>')));
    route.catch((err: unknown) => {
      log(`registration failed: ${String(err)}`);
      if (!res.headersSent) send(res, 500, page('Not registered', `<p>${escapeHtml(String(err))}</p>`));
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(config.port, config.host, () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://${config.host.includes(':') ? `[${config.host}]` : config.host}:${port}/`,
    registered,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        // A browser keeps its connection open; the page it wanted has been sent.
        server.closeAllConnections();
      }),
  };
}

/** Writes `.env` (merged into what is there) and the secret file, both mode 0600. */
async function writeCredentials(
  outDir: string,
  app: RegisteredApp,
  gheHost: string | undefined,
): Promise<{ env: string; secret: string }> {
  const env = path.join(outDir, '.env');
  const secret = path.join(outDir, SECRET_FILE);
  const values: Record<string, string> = {
    APP_ID: String(app.id),
    PRIVATE_KEY: Buffer.from(app.pem).toString('base64'),
    WEBHOOK_SECRET: app.webhookSecret,
    ...(gheHost ? { GHE_HOST: gheHost } : {}),
  };
  // Parsed, not edited line by line: an earlier PRIVATE_KEY may span lines in quotes.
  const merged = { ...parseEnv(await readFile(env, 'utf8').catch(() => '')), ...values };
  const line = ([k, v]: [string, string | undefined]) =>
    /^[\w@%+=:,./-]*$/.test(v ?? '') ? `${k}=${v ?? ''}` : `${k}="${(v ?? '').replace(/\n/g, '\\n')}"`;
  await writeFile(env, `${Object.entries(merged).map(line).join('\n')}\n`, { mode: 0o600 });
  await chmod(env, 0o600);
  const json = { APP_ID: String(app.id), PRIVATE_KEY: app.pem, WEBHOOK_SECRET: app.webhookSecret };
  await writeFile(secret, `${JSON.stringify(json, null, 2)}\n`, { mode: 0o600 });
  await chmod(secret, 0o600);
  return { env, secret };
}

function nextSteps(app: RegisteredApp, files: { env: string; secret: string }): string[] {
  return [
    `Registered ${app.name} (id ${app.id}): ${app.htmlUrl}`,
    `Credentials written to ${files.env} and ${files.secret} (mode 0600; never commit them).`,
    '',
    'Give them to control, then install the App on your repositories:',
    '  control on AWS (outputs of the Gantry stack: GitHubAppSecret, ClusterName, ServiceName):',
    `    aws secretsmanager put-secret-value --secret-id <GitHubAppSecret> --secret-string file://${files.secret}`,
    '    aws ecs update-service --cluster <ClusterName> --service <ServiceName> --force-new-deployment',
    '  control on this machine:',
    `    set -a; . ${files.env}; set +a; npm start`,
    `  install: ${app.htmlUrl}/installations/new`,
  ];
}
