/**
 * The App inside the control service: one Probot instance whose webhooks arrive at
 * `/api/github/webhooks`, whose deployment ledger lives in control's database, and which calls
 * control's management API in process (fastify's inject) with an admin key minted at start and
 * kept only in memory. Control tells it of each registered build at once, so a push waiting for
 * its build is rolled out without polling.
 */
import { randomBytes } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import { type Logger, Probot, ProbotOctokit } from 'probot';
import { hashKey } from '../../control/src/auth.ts';
import type { Store } from '../../control/src/store/store.ts';
import type { ControlBuild } from './control-client.ts';
import { HttpControlClient } from './control-client.ts';
import { createGantryApp } from './index.ts';
import { SqlLedger } from './sql-ledger.ts';
import { registerWebhookRoute, WEBHOOK_PATH } from './webhook-route.ts';

export interface MountOptions {
  appId: string;
  privateKey: string;
  webhookSecret: string;
  gheHost?: string;
  store: Store;
  publicUrl: () => string;
  log: Logger;
  clock?: () => number;
  /** GitHub's API is reached with this fetch (tests answer it in process; no rate limits to respect). */
  githubFetch?: typeof fetch;
}

export interface MountedApp {
  probot: Probot;
  buildRegistered(build: ControlBuild): Promise<void>;
  expirePreviews(): Promise<number>;
  /** Waits for rollouts started by build notifications (before control closes its store). */
  settle(): Promise<void>;
}

/** PEM as given, or with `\n` escapes (one-line environment variables), or base64 of the PEM. */
export function normalizePrivateKey(raw: string): string {
  if (raw.includes('-----BEGIN')) return raw.replace(/\\n/g, '\n');
  const decoded = Buffer.from(raw, 'base64').toString('utf8');
  return decoded.includes('-----BEGIN') ? decoded : raw;
}

/** GitHub's REST API base for a GitHub Enterprise Server host. */
export const gheBaseUrl = (host: string) => `https://${host}/api/v3`;

/** Adds an in-process fetch onto a fastify app: the App's calls to control never leave the process. */
export function injectFetch(app: FastifyInstance): typeof fetch {
  return async (input, init) => {
    const url = new URL(typeof input === 'string' ? input : input instanceof URL ? input.href : input.url);
    const headers: Record<string, string> = {};
    new Headers(init?.headers).forEach((v, k) => {
      headers[k] = v;
    });
    const res = await app.inject({
      method: (init?.method ?? 'GET') as 'GET',
      url: `${url.pathname}${url.search}`,
      headers,
      ...(typeof init?.body === 'string' ? { payload: init.body } : {}),
    });
    return new Response(res.statusCode === 204 ? null : res.body, {
      status: res.statusCode,
      headers: { 'content-type': String(res.headers['content-type'] ?? 'application/json') },
    });
  };
}

export async function mountGitHubApp(app: FastifyInstance, o: MountOptions): Promise<MountedApp> {
  const key = `gk_github_${randomBytes(24).toString('base64url')}`;
  await o.store.keys.put(
    'github-app',
    hashKey(key),
    'ADMIN',
    'GitHub App (in process, renewed at every start)',
  );
  const gantry = createGantryApp({
    control: new HttpControlClient({ url: 'http://control.internal', key, fetch: injectFetch(app) }),
    ledger: new SqlLedger(o.store.db, o.clock),
    publicUrl: o.publicUrl,
    ...(o.clock ? { clock: o.clock } : {}),
  });
  const probot = new Probot({
    appId: o.appId,
    privateKey: normalizePrivateKey(o.privateKey),
    secret: o.webhookSecret,
    log: o.log,
    ...(o.gheHost ? { baseUrl: gheBaseUrl(o.gheHost) } : {}),
    ...(o.githubFetch
      ? {
          request: { fetch: o.githubFetch },
          Octokit: ProbotOctokit.defaults((opts: { throttle?: object }) => ({
            ...opts,
            throttle: { ...opts.throttle, enabled: false },
          })),
        }
      : {}),
  });
  await probot.load(gantry.app);
  await registerWebhookRoute(app, probot, WEBHOOK_PATH);
  const inFlight = new Set<Promise<void>>();
  return {
    probot,
    buildRegistered: (build) => {
      const work = gantry.buildRegistered(build).catch((err: unknown) => {
        o.log.error({ err, build: build.id }, 'rolling out a registered build failed');
      });
      inFlight.add(work);
      void work.finally(() => inFlight.delete(work));
      return work;
    },
    expirePreviews: () => gantry.expirePreviews(),
    settle: async () => {
      await Promise.all([...inFlight]);
    },
  };
}
