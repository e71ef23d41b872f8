/**
 * Rollouts API: start one (deploy a revision, roll back, restart) and list them, per environment.
 * Under /v1, so the management API's admin-key hook guards it.
 */
import type { FastifyInstance } from 'fastify';
import type { Static } from 'typebox';
import { GantryError } from '../../../contract/src/errors.ts';
import {
  EnvParams,
  RolloutList,
  RolloutsQuery,
  RolloutView,
  StartRollout,
} from '../../../contract/src/management-api.ts';
import type { Environment, RolloutRecord } from '../domain.ts';
import type { Rollouts } from '../scaling/rollouts.ts';
import type { Store } from '../store/store.ts';

type EnvPath = Static<typeof EnvParams>;

const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());

export async function rolloutView(
  store: Store,
  env: Environment,
  r: RolloutRecord,
): Promise<Static<typeof RolloutView>> {
  const number = async (id: string | null) => (id ? ((await store.revisions.get(id))?.number ?? null) : null);
  return {
    id: r.id,
    environment: env.name,
    from_revision: await number(r.from_revision_id),
    to_revision: (await number(r.to_revision_id)) ?? 0,
    strategy: r.strategy,
    restart: r.restart,
    state: r.state,
    reason: r.reason,
    created_by: r.created_by,
    candidate_runner_id: r.candidate_runner_id,
    detail: r.detail,
    created_at: iso(r.created_at)!,
    switched_at: iso(r.switched_at),
    ended_at: iso(r.ended_at),
  };
}

export function registerRolloutRoutes(app: FastifyInstance, d: { store: Store; rollouts: Rollouts }): void {
  const { store } = d;
  const TAGS = ['management v1'];
  const PATH = '/v1/apps/:owner/:name/environments/:env/rollouts';

  async function loadEnv(p: EnvPath): Promise<Environment> {
    const a = await store.apps.get(p.owner, p.name);
    if (!a) throw new GantryError('GANTRY_ERR_APP_NOT_FOUND', `No app ${p.owner}/${p.name}.`);
    const env = await store.apps.getEnvironment(a.id, p.env);
    if (!env) {
      const names = (await store.apps.listEnvironments(a.id)).map((e) => e.name);
      throw new GantryError(
        'GANTRY_ERR_ENVIRONMENT_NOT_FOUND',
        `${a.owner}/${a.name} has no environment "${p.env}" (it has: ${names.join(', ')}).`,
      );
    }
    return env;
  }

  app.post(
    PATH,
    {
      schema: {
        tags: TAGS,
        summary: 'Start a rollout: move to a revision, or restart the active one',
        params: EnvParams,
        body: StartRollout,
        response: { 202: RolloutView },
      },
    },
    async (req, reply) => {
      const env = await loadEnv(req.params as EnvPath);
      const body = req.body as Static<typeof StartRollout>;
      const revision =
        body.revision === undefined
          ? env.active_revision_id
            ? await store.revisions.get(env.active_revision_id)
            : undefined
          : await store.revisions.getByNumber(env.id, body.revision);
      if (!revision) {
        if (body.revision === undefined) throw new GantryError('GANTRY_ERR_NO_ACTIVE_REVISION');
        const known = (await store.revisions.list(env.id)).map((r) => r.number);
        throw new GantryError(
          'GANTRY_ERR_REVISION_NOT_FOUND',
          `Environment ${env.name} has no revision ${body.revision} (it has: ${known.join(', ') || 'none'}).`,
        );
      }
      const restart = body.restart ?? (body.revision === undefined || revision.id === env.active_revision_id);
      const rollout = await d.rollouts.start(env, {
        revision,
        restart,
        ...(body.strategy ? { strategy: body.strategy } : {}),
        reason: body.reason ?? (restart ? 'restart' : null),
        by: body.by ?? 'api',
      });
      return reply.code(202).send(await rolloutView(store, env, rollout));
    },
  );

  app.get(
    PATH,
    {
      schema: {
        tags: TAGS,
        summary: 'Rollouts of the environment, newest first',
        params: EnvParams,
        querystring: RolloutsQuery,
        response: { 200: RolloutList },
      },
    },
    async (req) => {
      const env = await loadEnv(req.params as EnvPath);
      const { limit = 50 } = req.query as Static<typeof RolloutsQuery>;
      const list = await store.rollouts.list(env.id, limit);
      return { rollouts: await Promise.all(list.map((r) => rolloutView(store, env, r))) };
    },
  );
}
