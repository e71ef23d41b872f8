/**
 * Environments of an app: create, list, delete. Each has its own queue, runners, scaling, active
 * revision and secrets; deleting one removes all of that. `production` goes only with its app.
 */

import type { Static } from 'typebox';
import {
  AppParams,
  CreateEnvironment,
  EnvironmentList,
  EnvironmentListView,
  EnvParams,
} from '../../../contract/src/management-api.ts';
import type { Deployments } from '../deployments.ts';
import type { App, Environment } from '../domain.ts';
import type { Store } from '../store/store.ts';
import { appLoaders } from './load-app.ts';
import { TAGS, type V1Scope } from './v1.ts';
import { environmentView } from './views.ts';

export function registerEnvironmentRoutes(app: V1Scope, d: { store: Store; deployments: Deployments }): void {
  const { store } = d;
  const { loadApp, loadEnv } = appLoaders(store);

  const view = async (a: App, e: Environment): Promise<Static<typeof EnvironmentListView>> => ({
    ...(await environmentView(store, a, e)),
    secrets: (await store.secrets.list(e.id)).length,
    created_at: new Date(e.created_at).toISOString(),
  });

  app.post(
    '/apps/:owner/:name/environments',
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
      const { name } = req.body;
      const env = await d.deployments.createEnvironment(a, name);
      return reply.code(201).send(await view(a, env));
    },
  );

  app.get(
    '/apps/:owner/:name/environments',
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
    '/apps/:owner/:name/environments/:env',
    {
      schema: {
        tags: TAGS,
        summary: 'Delete an environment with its queue, runners, secrets and history',
        params: EnvParams,
      },
    },
    async (req, reply) => {
      const { app: a, env } = await loadEnv(req);
      await d.deployments.deleteEnvironment(a, env);
      return reply.code(204).send();
    },
  );
}
