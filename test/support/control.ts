/**
 * Starts a real control service on the embedded defaults for a test: PGlite in a temporary data
 * folder (or a fresh PostgreSQL schema when DATABASE_URL is set and `postgres` is asked for), the
 * embedded queue, the process compute driver, a random port and a known admin key.
 */

import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import type { ControlExtension } from '../../contract/src/extension.ts';
import {
  type ComputeDriver,
  ensureAdminKey,
  loadConfig,
  type RunnerSpec,
  type Started,
  startServer,
} from '../../control/index.ts';
import { gitHubAppExtension, loadMountedConfig } from '../../github-app/index.ts';
import { PgClient } from '../../sql/src/pg-client.ts';

export const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));
export const HELLO_COMMAND = ['node', '--import', 'tsx', 'examples/hello/app.ts'];

export interface TestControl {
  url: string;
  adminKey: string;
  service: Started;
  /** fetch against control with the admin key. */
  admin(pathname: string, init?: { method?: string; body?: unknown }): Promise<Response>;
  /** Creates an app and deploys a local command as its active revision. */
  deploy(opts: {
    owner?: string;
    name: string;
    authMode?: 'public' | 'private' | 'shared';
    command?: string[];
    settings?: Record<string, unknown>;
    scaling?: Record<string, unknown>;
    env?: string;
  }): Promise<void>;
  close(): Promise<void>;
}

export async function startTestControl(
  opts: {
    env?: Record<string, string>;
    postgres?: boolean;
    backoffStepMs?: number;
    drainGraceSeconds?: number;
    /** GitHub's API for a GitHub App configured through `env` (APP_ID, PRIVATE_KEY, WEBHOOK_SECRET). */
    githubFetch?: typeof fetch;
    /**
     * Runs image revisions as the hello example's command under the process driver, for tests of
     * what happens around images (builds, deployments) on a machine with no container engine.
     */
    imagesAsHello?: boolean;
    /** Extensions to mount besides the GitHub App (stand-ins speaking control's extension port). */
    extensions?: ControlExtension[];
  } = {},
): Promise<TestControl> {
  const dataDir = await mkdtemp(path.join(tmpdir(), 'gantry-test-'));
  const adminKey = `gk_test_${randomBytes(12).toString('hex')}`;
  const env = {
    PORT: '0',
    GANTRY_DATA_DIR: dataDir,
    GANTRY_ADMIN_KEY: adminKey,
    GANTRY_LOG_LEVEL: process.env.GANTRY_TEST_LOG ? 'debug' : 'warn',
    GANTRY_TICK_MS: '200',
    ...opts.env,
  };
  const config = loadConfig(env, REPO_ROOT);
  // Composed as control's process entry does: the App is mounted when its credentials are set.
  const github = loadMountedConfig(env, REPO_ROOT);
  const db =
    opts.postgres && process.env.DATABASE_URL
      ? await PgClient.open(process.env.DATABASE_URL, { schema: `e_${randomBytes(6).toString('hex')}` })
      : undefined;
  const service = await startServer(config, {
    ...(db ? { db } : {}),
    backoffStepMs: opts.backoffStepMs ?? 1000,
    drainGraceSeconds: opts.drainGraceSeconds ?? 10,
    ...(opts.imagesAsHello ? { wrapCompute: imagesAsHello } : {}),
    extensions: [
      ...(github
        ? [gitHubAppExtension({ github, ...(opts.githubFetch ? { githubFetch: opts.githubFetch } : {}) })]
        : []),
      ...(opts.extensions ?? []),
    ],
  });
  await ensureAdminKey(service.store, dataDir, adminKey);
  const admin = (pathname: string, init: { method?: string; body?: unknown } = {}) =>
    fetch(`${service.url}${pathname}`, {
      method: init.method ?? (init.body === undefined ? 'GET' : 'POST'),
      headers: {
        authorization: `Key ${adminKey}`,
        ...(init.body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      ...(init.body === undefined ? {} : { body: JSON.stringify(init.body) }),
    });
  const ok = async (r: Promise<Response>) => {
    const res = await r;
    if (!res.ok) throw new Error(`${res.status} ${await res.text()}`);
    return res;
  };
  return {
    url: service.url,
    adminKey,
    service,
    admin,
    async deploy(d) {
      const owner = d.owner ?? 'test';
      const env = d.env ?? 'production';
      await ok(admin('/v1/apps', { body: { owner, name: d.name, auth_mode: d.authMode ?? 'public' } }));
      if (d.scaling) {
        await ok(
          admin(`/v1/apps/${owner}/${d.name}/environments/production/scaling`, {
            method: 'PATCH',
            body: d.scaling,
          }),
        );
      }
      await ok(
        admin(`/v1/apps/${owner}/${d.name}/environments/${env}/revisions`, {
          // Tests of the request path start from zero: `recreate` switches at once, unproven, so no
          // runner starts before the first request (the deploy gate has tests of its own).
          body: {
            command: d.command ?? HELLO_COMMAND,
            cwd: REPO_ROOT,
            settings: d.settings ?? {},
            activate: true,
            strategy: 'recreate',
          },
        }),
      );
    },
    async close() {
      await service.close();
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}

/** Polls until check() returns a value (not undefined), or fails after timeoutMs. */
export async function eventually<T>(
  check: () => Promise<T | undefined>,
  timeoutMs = 20_000,
  what = 'condition',
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await check();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(100);
  }
}

/** A driver that starts an image revision as the hello example (the image it stands for). */
function imagesAsHello(driver: ComputeDriver): ComputeDriver {
  return new Proxy(driver, {
    get(target, prop) {
      if (prop === 'start') {
        return (spec: RunnerSpec) =>
          target.start(
            spec.revision.image && !spec.revision.command
              ? {
                  ...spec,
                  revision: { ...spec.revision, image: null, command: HELLO_COMMAND, cwd: REPO_ROOT },
                }
              : spec,
          );
      }
      const value = Reflect.get(target, prop, target);
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
}
