/**
 * Rollouts API: start one (deploy a revision, roll back, restart) and list them, per environment.
 * Under /v1, so the management API's admin-key hook guards it.
 */
import type { FastifyInstance } from 'fastify';
import { type Static, Type } from 'typebox';
import { GantryError } from '../../../contract/src/errors.ts';
import type { Environment, RolloutRecord } from '../domain.ts';
import type { Rollouts } from '../scaling/rollouts.ts';
import type { Store } from '../store/store.ts';

const NAME = '^(?!.*--)[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$';
const EnvParams = Type.Object({
  owner: Type.String({ pattern: NAME }),
  name: Type.String({ pattern: NAME }),
  env: Type.String({ pattern: NAME }),
});
type EnvParams = Static<typeof EnvParams>;

export const Strategy = Type.Union([Type.Literal('rolling'), Type.Literal('recreate')], {
  description:
    '`rolling`: start one runner of the new revision, switch when it is healthy, then drain the old ones (abort and keep the old revision if it fails). `recreate`: switch at once. Default: `rolling` when runners are live, else `recreate`.',
});

const StartRollout = Type.Object(
  {
    revision: Type.Optional(
      Type.Integer({ minimum: 1, description: 'revision number; default: the active one (a restart)' }),
    ),
    strategy: Type.Optional(Strategy),
    restart: Type.Optional(
      Type.Boolean({
        description: 'replace the runners of the active revision (e.g. after a secret change)',
      }),
    ),
    reason: Type.Optional(Type.String({ maxLength: 1000 })),
    by: Type.Optional(Type.String({ maxLength: 200, description: 'who asked: a user, `github:<login>`, …' })),
  },
  { additionalProperties: false },
);

export const RolloutView = Type.Object({
  id: Type.String(),
  environment: Type.String(),
  from_revision: Type.Union([Type.Integer(), Type.Null()]),
  to_revision: Type.Integer(),
  strategy: Type.String(),
  restart: Type.Boolean(),
  state: Type.String({ description: '`in_progress`, `completed`, `aborted` or `superseded`' }),
  reason: Type.Union([Type.String(), Type.Null()]),
  created_by: Type.Union([Type.String(), Type.Null()]),
  candidate_runner_id: Type.Union([Type.String(), Type.Null()]),
  detail: Type.Union([Type.String(), Type.Null()]),
  created_at: Type.String(),
  switched_at: Type.Union([Type.String(), Type.Null()]),
  ended_at: Type.Union([Type.String(), Type.Null()]),
});

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

  async function loadEnv(p: EnvParams): Promise<Environment> {
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
      const env = await loadEnv(req.params as EnvParams);
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

  const ListQuery = Type.Object({
    limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000, default: 50 })),
  });
  app.get(
    PATH,
    {
      schema: {
        tags: TAGS,
        summary: 'Rollouts of the environment, newest first',
        params: EnvParams,
        querystring: ListQuery,
        response: { 200: Type.Object({ rollouts: Type.Array(RolloutView) }) },
      },
    },
    async (req) => {
      const env = await loadEnv(req.params as EnvParams);
      const { limit = 50 } = req.query as Static<typeof ListQuery>;
      const list = await store.rollouts.list(env.id, limit);
      return { rollouts: await Promise.all(list.map((r) => rolloutView(store, env, r))) };
    },
  );
}
