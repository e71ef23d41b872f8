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
  FastifyRequest,
  RawReplyDefaultExpression,
  RawRequestDefaultExpression,
  RawServerDefault,
} from 'fastify';
import { GantryError } from '../../../contract/src/errors.ts';
import type { RegisteredBuild } from '../../../contract/src/extension.ts';
import { auditRecord, ROLLBACK_MARK } from '../audit/audit-hook.ts';
import { registerAuditRoutes } from '../audit/audit-routes.ts';
import { requireAdmin } from '../auth.ts';
import type { Deployments } from '../deployments.ts';
import type { Caller } from '../domain.ts';
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
  /** Owners and `owner/repo` names whose OIDC tokens may register builds; empty: any. */
  buildRepositories?: readonly string[];
  /** The default when buildRepositories is empty (the GitHub App's installations). */
  buildRepositoriesInstalled?: ((repository: string) => Promise<boolean>) | undefined;
}

/**
 * An ADMIN key with an owner manages that owner's apps (and keys) only. Calls that span owners
 * (listing every app or key, the cost report, reading builds) need an unlimited ADMIN key.
 */
async function checkOwnerLimit(store: Store, req: FastifyRequest, caller: Caller): Promise<void> {
  const owner = caller.owner;
  if (caller.scope !== 'ADMIN' || owner === null) return;
  const params = (req.params ?? {}) as Record<string, string>;
  const body = (req.body ?? {}) as Record<string, unknown>;
  const route = (req.routeOptions.url ?? '').replace(/^\/v1/, '');
  const refuse = (what: string) => {
    throw new GantryError(
      'GANTRY_ERR_KEY_SCOPE',
      `Key ${caller.id} is limited to the apps of ${owner}: ${what}.`,
    );
  };
  if (params.owner !== undefined) {
    if (params.owner !== owner) refuse(`${params.owner}/${params.name ?? ''} belongs to ${params.owner}`);
    return;
  }
  if (route === '/audit') return; // filtered to the owner by the route
  if (req.method === 'POST' && (route === '/apps' || route === '/keys')) {
    if (body.owner !== owner) refuse(`pass "owner": "${owner}"`);
    const apps = Array.isArray(body.apps) ? (body.apps as string[]) : [];
    const other = apps.find((a) => !a.startsWith(`${owner}/`));
    if (other) refuse(`${other} belongs to another owner`);
    return;
  }
  if (req.method === 'DELETE' && route === '/keys/:id') {
    const key = await store.keys.get(params.id ?? '');
    if (key && key.owner !== owner) refuse(`key ${key.id} is not one of ${owner}'s`);
    return;
  }
  refuse(`${req.method} /v1${route} spans every owner and needs an unlimited ADMIN key`);
}

/** Notes the serving revision before an activation, so the audit log can call it a rollback. */
async function markRollback(store: Store, req: FastifyRequest): Promise<void> {
  if (req.method !== 'PUT' || !req.routeOptions.url?.endsWith('/active-revision')) return;
  const p = req.params as { owner: string; name: string; env: string };
  const found = await store.apps.getWithEnvironment(p.owner, p.name, p.env);
  const activeId = found?.env?.active_revision_id;
  const active = activeId ? await store.revisions.get(activeId) : undefined;
  if (active) (req as unknown as Record<symbol, unknown>)[ROLLBACK_MARK] = active.number;
}

/** Register with `{ prefix: '/v1' }`. */
export function managementApi(d: ManagementApiDeps): FastifyPluginAsync {
  return async (root) => {
    const v1 = root.withTypeProvider<TypeBoxTypeProvider>();
    const { store } = d;
    registerBuildRoutes(v1, {
      store,
      oidc: d.oidc,
      onRegistered: d.onRegistered,
      allowedRepositories: d.buildRepositories ?? [],
      installed: d.buildRepositoriesInstalled,
    });
    await v1.register(async (scope) => {
      const admin = scope.withTypeProvider<TypeBoxTypeProvider>();
      const callers = new WeakMap<FastifyRequest, Caller>();
      const callerOf = (req: FastifyRequest) => callers.get(req);
      admin.addHook('onRequest', async (req) => {
        callers.set(req, await requireAdmin(store, req, d.clock?.()));
      });
      // After validation, so the body and params are known: an owner-limited key stays in its lane.
      admin.addHook('preHandler', async (req) => {
        const caller = callers.get(req);
        if (caller) await checkOwnerLimit(store, req, caller);
        await markRollback(store, req);
      });
      admin.addHook('onResponse', async (req, reply) => {
        const rec = auditRecord(req, reply, callers.get(req));
        if (!rec) return;
        // The answer has gone; a failed write is logged, not turned into a failed call.
        await store.audit.append(rec).catch((err: unknown) => req.log.error({ err }, 'audit write failed'));
      });
      registerAppRoutes(admin, d);
      registerAuthModeRoutes(admin, { store });
      registerEnvironmentRoutes(admin, d);
      registerRevisionRoutes(admin, d);
      registerEnvironmentStateRoutes(admin, d);
      registerRolloutRoutes(admin, { store, rollouts: d.rollouts });
      registerSecretRoutes(admin, { store, secrets: d.secrets });
      registerKeyRoutes(admin, { store, clock: d.clock });
      registerAuditRoutes(admin, { store, callerOf });
      registerRunnerActionRoutes(admin, { store, scaler: d.scaler });
      registerLogRoutes(admin, { store });
      registerQueueAdminRoutes(admin, { store, requests: d.requests, scaler: d.scaler });
      registerRequestDetailRoute(admin, { store });
      if (d.events) registerEventRoutes(admin, { store, events: d.events });
      registerStatsRoutes(admin, { store, ...(d.clock ? { clock: d.clock } : {}) });
    });
  };
}
