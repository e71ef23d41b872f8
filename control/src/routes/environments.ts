/**
 * Environments of an app: create, list, delete. Each has its own queue, runners, scaling, active
 * revision and secrets; deleting one removes all of that. `production` goes only with its app.
 */
import type { FastifyInstance } from 'fastify';
import type { Static } from 'typebox';
import { GantryError } from '../../../contract/src/errors.ts';
import {
  AppParams,
  CreateEnvironment,
  EnvironmentList,
  EnvironmentListView,
  EnvParams,
} from '../../../contract/src/management-api.ts';
import type { App, Environment } from '../domain.ts';
import type { QueueDriver } from '../queue/queue-driver.ts';
import type { Scaler } from '../scaling/scaler.ts';
import type { Store } from '../store/store.ts';
import { appLoaders } from './load-app.ts';
import { environmentView } from './management.ts';

const TAGS = ['management v1'];
export function registerEnvironmentRoutes(
  app: FastifyInstance,
  d: { store: Store; queue: QueueDriver; scaler: Scaler },
): void {
  const { store } = d;
  const { loadApp, loadEnv } = appLoaders(store);

  const view = async (a: App, e: Environment): Promise<Static<typeof EnvironmentListView>> => ({
    ...(await environmentView(store, a, e)),
    secrets: (await store.secrets.list(e.id)).length,
    created_at: new Date(e.created_at).toISOString(),
  });

  app.post(
    '/v1/apps/:owner/:name/environments',
    {
      schema: {
        tags: TAGS,
        summary: 'Create an environment (its endpoint id is `owner/name--env`)',
        params: AppParams,
        body: CreateEnvironment,
        response: { 201: EnvironmentListView },
      },
    },
    async (req, reply) => {
      const a = await loadApp(req);
      const { name } = req.body as Static<typeof CreateEnvironment>;
      const env = await store.apps.createEnvironment(a.id, name);
      await d.queue.ensure(env.id);
      return reply.code(201).send(await view(a, env));
    },
  );

  app.get(
    '/v1/apps/:owner/:name/environments',
    {
      schema: {
        tags: TAGS,
        summary: 'List environments',
        params: AppParams,
        response: { 200: EnvironmentList },
      },
    },
    async (req) => {
      const a = await loadApp(req);
      const envs = await store.apps.listEnvironments(a.id);
      return { environments: await Promise.all(envs.map((e) => view(a, e))) };
    },
  );

  app.delete(
    '/v1/apps/:owner/:name/environments/:env',
    {
      schema: {
        tags: TAGS,
        summary: 'Delete an environment with its queue, runners, secrets and history',
        params: EnvParams,
      },
    },
    async (req, reply) => {
      const { app: a, env } = await loadEnv(req);
      if (env.name === 'production') {
        throw new GantryError(
          'GANTRY_ERR_ENVIRONMENT_PROTECTED',
          `production is deleted only with its app (delete ${a.owner}/${a.name} to remove it).`,
        );
      }
      for (const r of await store.runners.list(env.id)) await d.scaler.drain(r.id);
      await d.queue.remove(env.id);
      await store.apps.deleteEnvironment(env.id);
      return reply.code(204).send();
    },
  );
}
