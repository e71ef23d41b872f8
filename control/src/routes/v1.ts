/**
 * The management API: one fastify plugin that control registers under `/v1`. Every route in it
 * needs the admin key, except build registration and listing (builds.ts), which check their own
 * credentials: a GitHub OIDC token or a deploy token.
 *
 * The admin check is a hook of the admin scope, so it runs for exactly the routes registered in
 * that scope, whatever the URL looked like before the router decoded it (`/%761/keys` matches
 * /v1/keys and is checked). An unmatched URL has no route here and ends in the 404 handler, which
 * reveals nothing.
 */
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type {
  FastifyBaseLogger,
  FastifyInstance,
  FastifyPluginAsync,
  RawReplyDefaultExpression,
  RawRequestDefaultExpression,
  RawServerDefault,
} from 'fastify';
import type { RegisteredBuild } from '../../../contract/src/extension.ts';
import { requireAdmin } from '../auth.ts';
import type { Deployments } from '../deployments.ts';
import type { Activity } from '../events/activity.ts';
import type { EventLog } from '../events/event-log.ts';
import { registerEventRoutes } from '../events/event-routes.ts';
import type { OidcVerifier } from '../oidc-verifier.ts';
import type { QueueDriver } from '../queue/queue-driver.ts';
import type { RequestService } from '../request-service.ts';
import type { RevisionSnapshots } from '../revision-snapshots.ts';
import type { Rollouts } from '../scaling/rollouts.ts';
import type { Scaler } from '../scaling/scaler.ts';
import type { EnvironmentSecrets } from '../secrets/environment-secrets.ts';
import { registerStatsRoutes } from '../stats/stats-routes.ts';
import type { Store } from '../store/store.ts';
import { registerAppRoutes } from './apps.ts';
import { registerAuthModeRoutes } from './auth-mode.ts';
import { registerBuildRoutes } from './builds.ts';
import { registerEnvironmentStateRoutes } from './environment-state.ts';
import { registerEnvironmentRoutes } from './environments.ts';
import { registerKeyRoutes } from './keys.ts';
import { registerLogRoutes } from './logs.ts';
import { registerQueueAdminRoutes } from './queue-admin.ts';
import { registerRequestDetailRoute } from './request-detail.ts';
import { registerRevisionRoutes } from './revisions.ts';
import { registerRolloutRoutes } from './rollouts.ts';
import { registerRunnerActionRoutes } from './runner-actions.ts';
import { registerSecretRoutes } from './secrets.ts';

/** A fastify scope whose route handlers get their request and reply types from the TypeBox schemas. */
export type V1Scope = FastifyInstance<
  RawServerDefault,
  RawRequestDefaultExpression,
  RawReplyDefaultExpression,
  FastifyBaseLogger,
  TypeBoxTypeProvider
>;

export const TAGS = ['management v1'];

export interface ManagementApiDeps {
  store: Store;
  queue: QueueDriver;
  scaler: Scaler;
  rollouts: Rollouts;
  deployments: Deployments;
  /** Copies a command revision's folder, so the revision stays what it was. */
  snapshots?: RevisionSnapshots;
  requests: RequestService;
  secrets: EnvironmentSecrets;
  oidc: OidcVerifier;
  /** Tells the extensions of a registered build. */
  onRegistered: (build: RegisteredBuild) => Promise<void>;
  /** Told of scaling changes (events). */
  activity?: Activity;
  /** The environments' events, for `…/events`. */
  events?: EventLog;
  clock?: () => number;
}

/** Register with `{ prefix: '/v1' }`. */
export function managementApi(d: ManagementApiDeps): FastifyPluginAsync {
  return async (root) => {
    const v1 = root.withTypeProvider<TypeBoxTypeProvider>();
    const { store } = d;
    registerBuildRoutes(v1, { store, oidc: d.oidc, onRegistered: d.onRegistered });
    await v1.register(async (scope) => {
      const admin = scope.withTypeProvider<TypeBoxTypeProvider>();
      admin.addHook('onRequest', async (req) => {
        await requireAdmin(store, req);
      });
      registerAppRoutes(admin, d);
      registerAuthModeRoutes(admin, { store });
      registerEnvironmentRoutes(admin, d);
      registerRevisionRoutes(admin, d);
      registerEnvironmentStateRoutes(admin, d);
      registerRolloutRoutes(admin, { store, rollouts: d.rollouts });
      registerSecretRoutes(admin, { store, secrets: d.secrets });
      registerKeyRoutes(admin, { store });
      registerRunnerActionRoutes(admin, { store, scaler: d.scaler });
      registerLogRoutes(admin, { store });
      registerQueueAdminRoutes(admin, { store, requests: d.requests, scaler: d.scaler });
      registerRequestDetailRoute(admin, { store });
      if (d.events) registerEventRoutes(admin, { store, events: d.events });
      registerStatsRoutes(admin, { store, ...(d.clock ? { clock: d.clock } : {}) });
    });
  };
}
