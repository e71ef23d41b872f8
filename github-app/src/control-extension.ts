/**
 * The App as an extension of control (contract/src/extension.ts): one Probot instance whose
 * webhooks arrive at `/api/github/webhooks`, whose ledger lives in control's database (in the
 * App's own tables), and which calls control's management API in process with the admin key
 * control minted for it. Control tells it of each registered build at once, so a push waiting for
 * its build is rolled out without polling.
 */
import { type Logger, Probot, ProbotOctokit } from 'probot';
import type { ControlExtension, MountedExtension } from '../../contract/src/extension.ts';
import type { GitHubCredentials } from './config.ts';
import { HttpControlClient } from './control-client.ts';
import { DeliveryLog } from './delivery-log.ts';
import { createGantryApp } from './index.ts';
import { installedRepositories } from './installed-repositories.ts';
import { migrate } from './migrations.ts';
import { SqlLedger } from './sql-ledger.ts';
import { registerWebhookRoute } from './webhook-route.ts';

export interface GitHubAppExtensionOptions {
  github: GitHubCredentials;
  /** GitHub's API is reached with this fetch (tests answer it in process; no rate limits to respect). */
  githubFetch?: typeof fetch;
}

/** How often previews past their expiry are torn down. */
const PREVIEW_SWEEP_MS = 15 * 60_000;

/** GitHub's REST API base for a GitHub Enterprise Server host. */
const gheBaseUrl = (host: string) => `https://${host}/api/v3`;

export function gitHubAppExtension(o: GitHubAppExtensionOptions): ControlExtension {
  return {
    name: 'github-app',
    prefix: '/api/github',
    async mount(host): Promise<MountedExtension> {
      await migrate(host.sql);
      // Probot logs through pino, as fastify does: the host's logger is one.
      const log = host.log as unknown as Logger;
      const gantry = createGantryApp({
        control: new HttpControlClient(host.admin),
        ledger: new SqlLedger(host.sql, host.clock),
        publicUrl: host.publicUrl,
        clock: host.clock,
        sql: host.sql,
      });
      const probot = new Probot({
        appId: o.github.appId,
        privateKey: o.github.privateKey,
        secret: o.github.webhookSecret,
        log,
        ...(o.github.gheHost ? { baseUrl: gheBaseUrl(o.github.gheHost) } : {}),
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
      const deliveries = new DeliveryLog(host.sql, host.clock);
      await registerWebhookRoute(host.routes, probot, '/webhooks', deliveries);
      const sweep = setInterval(() => {
        gantry.expirePreviews().catch((err: unknown) => log.error({ err }, 'expiring previews failed'));
        deliveries.prune().catch((err: unknown) => log.error({ err }, 'pruning delivery ids failed'));
      }, PREVIEW_SWEEP_MS);
      sweep.unref();
      const inFlight = new Set<Promise<void>>();
      const installed = installedRepositories(() => probot.auth(), host.clock);
      return {
        // Builds registered with a GitHub OIDC token come from repositories this App serves.
        mayRegisterBuilds: installed,
        buildRegistered(build) {
          const work = gantry.buildRegistered(build).catch((err: unknown) => {
            log.error({ err, build: build.id }, 'rolling out a registered build failed');
          });
          inFlight.add(work);
          void work.finally(() => inFlight.delete(work));
          return work;
        },
        async close() {
          clearInterval(sweep);
          await Promise.all([...inFlight]);
        },
      };
    },
  };
}
