/**
 * Management API v1: apps, revisions, the active revision, scaling, runners and requests. Every
 * route needs the admin key. Environment-scoped resources live under
 * /v1/apps/{owner}/{name}/environments/{env}/….
 */
import type { FastifyInstance } from 'fastify';
import type { Static } from 'typebox';
import { GantryError } from '../../../contract/src/errors.ts';
import {
  ActiveRevisionView,
  AppList,
  AppParams,
  AppView,
  AppWithEnvironments,
  CreateApp,
  CreateRevision,
  DeadLetterList,
  type EnvironmentView,
  EnvParams,
  LimitQuery,
  RequestList,
  type RequestView,
  RevisionList,
  RevisionParams,
  RevisionView,
  RunnerList,
  RunnersQuery,
  type RunnerView,
  ScalingPatch,
  ScalingView,
  SetActive,
} from '../../../contract/src/management-api.ts';
import { mergeRuntimeSettings, parseCodeSettings } from '../../../contract/src/scaling-settings.ts';
import { requireAdmin } from '../auth.ts';
import type { App, Environment, RequestRecord, Revision, RevisionHealth, RunnerRecord } from '../domain.ts';
import type { QueueDriver } from '../queue/queue-driver.ts';
import type { Rollouts } from '../scaling/rollouts.ts';
import type { Scaler } from '../scaling/scaler.ts';
import type { Store } from '../store/store.ts';
import { appLoaders } from './load-app.ts';
import { rolloutView } from './rollouts.ts';

export {
  AppParams,
  EnvironmentView,
  EnvParams,
  Name,
  RunnerView,
} from '../../../contract/src/management-api.ts';

export const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());
export const endpointId = (app: App, env: string) =>
  `${app.owner}/${app.name}${env === 'production' ? '' : `--${env}`}`;

/** An environment as the API shows it (its scaling already carries every default: see the store). */
export async function environmentView(
  store: Store,
  a: App,
  e: Environment,
): Promise<Static<typeof EnvironmentView>> {
  const rev = e.active_revision_id ? await store.revisions.get(e.active_revision_id) : undefined;
  return {
    name: e.name,
    endpoint_id: endpointId(a, e.name),
    active_revision: rev?.number ?? null,
    scaling: e.scaling,
  };
}

export function appView(a: App): Static<typeof AppView> {
  return {
    id: a.id,
    owner: a.owner,
    name: a.name,
    endpoint_id: endpointId(a, 'production'),
    auth_mode: a.auth_mode,
    created_at: iso(a.created_at)!,
  };
}

function revisionView(r: Revision, env: Environment, health?: RevisionHealth): Static<typeof RevisionView> {
  return {
    number: r.number,
    environment: env.name,
    active: env.active_revision_id === r.id,
    image: r.image,
    command: r.command,
    cwd: r.cwd,
    settings: r.settings,
    commit_sha: r.commit_sha,
    message: r.message,
    annotations: r.annotations,
    created_at: iso(r.created_at)!,
    status: health?.status ?? 'not_started',
    failure: health?.failure ?? null,
  };
}

export function runnerView(r: RunnerRecord, revisions: Map<string, number>): Static<typeof RunnerView> {
  return {
    id: r.id,
    state: r.state,
    revision: revisions.get(r.revision_id) ?? null,
    in_flight: r.in_flight,
    created_at: iso(r.created_at)!,
    state_changed_at: iso(r.state_changed_at)!,
    ready_at: iso(r.ready_at),
    ended_at: iso(r.ended_at),
    cold_start_ms: r.cold_start_ms,
    detail: r.detail,
    history: r.history.map((h) => ({ state: h.state, at: iso(h.at)! })),
  };
}

function requestView(r: RequestRecord): Static<typeof RequestView> {
  return {
    request_id: r.id,
    status: r.status,
    path: r.path,
    attempts: r.attempts,
    priority: r.priority,
    result_status: r.result_status,
    error: r.error,
    error_type: r.error_type,
    runner_id: r.runner_id,
    created_at: iso(r.created_at)!,
    started_at: iso(r.started_at),
    completed_at: iso(r.completed_at),
    inference_time: r.inference_ms === null ? null : r.inference_ms / 1000,
    dead_lettered: r.dead_lettered,
  };
}

export interface ManagementDeps {
  store: Store;
  queue: QueueDriver;
  scaler: Scaler;
  rollouts: Rollouts;
  clock?: () => number;
}

export function registerManagementRoutes(app: FastifyInstance, d: ManagementDeps): void {
  const { store } = d;
  const TAGS = ['management v1'];

  app.addHook('onRequest', async (req) => {
    // Decide on the route that matched, never on the raw URL: the router decodes `%76` to `v`, so a
    // test of req.url would let `/%761/keys` reach /v1/keys unchecked. An unmatched URL has no
    // route here and ends in the 404 handler, which reveals nothing.
    const route = req.routeOptions.url;
    // Builds authenticate themselves: the Action registers with a GitHub OIDC token (routes/builds.ts).
    if (route?.startsWith('/v1/') && !route.startsWith('/v1/builds')) await requireAdmin(store, req);
  });

  const { loadApp, loadEnv } = appLoaders(store);

  const envView = (a: App, e: Environment) => environmentView(store, a, e);

  app.post(
    '/v1/apps',
    { schema: { tags: TAGS, summary: 'Create an app', body: CreateApp, response: { 201: AppView } } },
    async (req, reply) => {
      const body = req.body as Static<typeof CreateApp>;
      const created = await store.apps.create(body.owner, body.name, body.auth_mode ?? 'private');
      return reply.code(201).send(appView(created));
    },
  );

  app.get(
    '/v1/apps',
    {
      schema: {
        tags: TAGS,
        summary: 'List apps',
        response: { 200: AppList },
      },
    },
    async () => ({ apps: (await store.apps.list()).map(appView) }),
  );

  app.get(
    '/v1/apps/:owner/:name',
    {
      schema: {
        tags: TAGS,
        summary: 'Get an app with its environments',
        params: AppParams,
        response: { 200: AppWithEnvironments },
      },
    },
    async (req) => {
      const a = await loadApp(req);
      const envs = await store.apps.listEnvironments(a.id);
      return { ...appView(a), environments: await Promise.all(envs.map((e) => envView(a, e))) };
    },
  );

  app.delete(
    '/v1/apps/:owner/:name',
    {
      schema: {
        tags: TAGS,
        summary: 'Delete an app, its environments, runners, queues and history',
        params: AppParams,
      },
    },
    async (req, reply) => {
      const a = await loadApp(req);
      for (const e of await store.apps.listEnvironments(a.id)) {
        for (const r of await store.runners.list(e.id)) await d.scaler.drain(r.id);
        await d.queue.remove(e.id);
      }
      await store.apps.delete(a.id);
      return reply.code(204).send();
    },
  );

  app.post(
    '/v1/apps/:owner/:name/environments/:env/revisions',
    {
      schema: {
        tags: TAGS,
        summary: 'Create a revision (and, by default, make it active)',
        params: EnvParams,
        body: CreateRevision,
        response: { 201: RevisionView },
      },
    },
    async (req, reply) => {
      const a = await loadApp(req);
      const body = req.body as Static<typeof CreateRevision>;
      if (!body.command && !body.image) {
        throw new GantryError('GANTRY_ERR_VALIDATION', 'A revision needs a `command` (local) or an `image`.');
      }
      const settings = parseCodeSettings(body.settings as Record<string, unknown> | undefined);
      const { env: envName } = req.params as { env: string };
      const env = await store.apps.ensureEnvironment(a.id, envName);
      await d.queue.ensure(env.id, { app: `${a.owner}/${a.name}`, environment: env.name });
      const rev = await store.revisions.create(env.id, {
        command: body.command ?? null,
        cwd: body.cwd ?? null,
        image: body.image ?? null,
        settings,
        commit_sha: body.commit_sha ?? null,
        message: body.message ?? null,
        annotations: (body.annotations ?? {}) as Record<string, unknown>,
        created_by: 'api',
      });
      if (body.activate !== false) {
        await d.rollouts.start(env, {
          revision: rev,
          reason: 'deploy',
          by: 'api',
          ...(body.strategy ? { strategy: body.strategy } : {}),
        });
      }
      const fresh = (await store.apps.getEnvironmentById(env.id))!;
      return reply.code(201).send(revisionView(rev, fresh));
    },
  );

  app.get(
    '/v1/apps/:owner/:name/environments/:env/revisions',
    {
      schema: {
        tags: TAGS,
        summary: 'List revisions, newest first',
        params: EnvParams,
        response: { 200: RevisionList },
      },
    },
    async (req) => {
      const { env } = await loadEnv(req);
      const health = await store.revisions.health(env.id);
      return {
        revisions: (await store.revisions.list(env.id)).map((r) => revisionView(r, env, health.get(r.id))),
      };
    },
  );

  app.put(
    '/v1/apps/:owner/:name/environments/:env/active-revision',
    {
      schema: {
        tags: TAGS,
        summary:
          'Set the active revision (a rollback is this call with an earlier number), through a rollout: `rolling` by default while runners are live, so the switch happens once the new revision is healthy',
        params: EnvParams,
        body: SetActive,
        response: { 200: ActiveRevisionView },
      },
    },
    async (req) => {
      const { env } = await loadEnv(req);
      const { revision, strategy, reason, by } = req.body as Static<typeof SetActive>;
      const rev = await revisionByNumber(env, revision);
      const health = (await store.revisions.health(env.id)).get(rev.id);
      if (health?.status === 'failed' && env.active_revision_id !== rev.id) {
        throw new GantryError(
          'GANTRY_ERR_REVISION_FAILED',
          `Revision ${revision} of ${env.name} failed to start, so it is not made active: ${health.failure}`,
        );
      }
      const rollout = await d.rollouts.start(env, {
        revision: rev,
        ...(strategy ? { strategy } : {}),
        reason: reason ?? 'set active revision',
        by: by ?? 'api',
      });
      const fresh = (await store.apps.getEnvironmentById(env.id))!;
      return { ...revisionView(rev, fresh, health), rollout: await rolloutView(store, fresh, rollout) };
    },
  );

  async function revisionByNumber(env: Environment, n: number): Promise<Revision> {
    const rev = await store.revisions.getByNumber(env.id, n);
    if (!rev) {
      const known = (await store.revisions.list(env.id)).map((r) => r.number);
      throw new GantryError(
        'GANTRY_ERR_REVISION_NOT_FOUND',
        `Environment ${env.name} has no revision ${n} (it has: ${known.join(', ') || 'none'}).`,
      );
    }
    return rev;
  }

  app.delete(
    '/v1/apps/:owner/:name/environments/:env/revisions/:number',
    {
      schema: {
        tags: TAGS,
        summary: 'Delete a revision that is not active',
        params: RevisionParams,
      },
    },
    async (req, reply) => {
      const { env } = await loadEnv(req);
      const rev = await revisionByNumber(env, (req.params as { number: number }).number);
      if (env.active_revision_id === rev.id) {
        throw new GantryError(
          'GANTRY_ERR_REVISION_ACTIVE',
          `Revision ${rev.number} is the active revision of ${env.name}: roll back or deploy another first.`,
        );
      }
      await store.revisions.delete(rev.id);
      return reply.code(204).send();
    },
  );

  app.get(
    '/v1/apps/:owner/:name/environments/:env/scaling',
    {
      schema: {
        tags: TAGS,
        summary: 'Runtime scaling settings',
        params: EnvParams,
        response: { 200: ScalingView },
      },
    },
    async (req) => (await loadEnv(req)).env.scaling,
  );

  app.patch(
    '/v1/apps/:owner/:name/environments/:env/scaling',
    {
      schema: {
        tags: TAGS,
        summary: 'Change runtime scaling settings; kept across deploys',
        params: EnvParams,
        body: ScalingPatch,
        response: { 200: ScalingView },
      },
    },
    async (req) => {
      const { env } = await loadEnv(req);
      const next = mergeRuntimeSettings(env.scaling, req.body as Record<string, unknown>);
      await store.apps.setScaling(env.id, next);
      await d.scaler.reconcile(env.id);
      return next;
    },
  );

  app.get(
    '/v1/apps/:owner/:name/environments/:env/runners',
    {
      schema: {
        tags: TAGS,
        summary: 'Runners: current ones and those that ended within the window',
        params: EnvParams,
        querystring: RunnersQuery,
        response: { 200: RunnerList },
      },
    },
    async (req) => {
      const { env } = await loadEnv(req);
      const { ended_within_hours = 24 } = req.query as Static<typeof RunnersQuery>;
      const now = (d.clock ?? Date.now)();
      const runners = await store.runners.list(env.id, now - ended_within_hours * 3_600_000);
      const numbers = new Map((await store.revisions.list(env.id)).map((r) => [r.id, r.number]));
      return { runners: runners.map((r) => runnerView(r, numbers)) };
    },
  );

  app.get(
    '/v1/apps/:owner/:name/environments/:env/requests',
    {
      schema: {
        tags: TAGS,
        summary: 'Recent requests, newest first',
        params: EnvParams,
        querystring: LimitQuery,
        response: { 200: RequestList },
      },
    },
    async (req) => {
      const { env } = await loadEnv(req);
      const { limit = 100 } = req.query as Static<typeof LimitQuery>;
      return { requests: (await store.requests.list(env.id, limit)).map(requestView) };
    },
  );

  app.get(
    '/v1/apps/:owner/:name/environments/:env/dead-letters',
    {
      schema: {
        tags: TAGS,
        summary: 'Requests that ran out of attempts, and the dead-letter queue holding their messages',
        params: EnvParams,
        querystring: LimitQuery,
        response: { 200: DeadLetterList },
      },
    },
    async (req) => {
      const { env } = await loadEnv(req);
      const { limit = 100 } = req.query as Static<typeof LimitQuery>;
      const depth = await d.queue.depth(env.id);
      return {
        dead_letter_queue_depth: depth.deadLettered,
        requests: (await store.requests.listDeadLettered(env.id, limit)).map(requestView),
      };
    },
  );
}
