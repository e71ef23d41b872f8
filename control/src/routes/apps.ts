/** Apps: create, list, show with their environments, delete with everything they hold. */
import {
  AppList,
  AppParams,
  AppView,
  AppWithEnvironments,
  CreateApp,
} from '../../../contract/src/management-api.ts';
import type { Deployments } from '../deployments.ts';
import type { Store } from '../store/store.ts';
import { appLoaders } from './load-app.ts';
import { TAGS, type V1Scope } from './v1.ts';
import { appView, environmentView } from './views.ts';

export function registerAppRoutes(app: V1Scope, d: { store: Store; deployments: Deployments }): void {
  const { store } = d;
  const { loadApp } = appLoaders(store);

  app.post(
    '/apps',
    { schema: { tags: TAGS, summary: 'Create an app', body: CreateApp, response: { 201: AppView } } },
    async (req, reply) => {
      const body = req.body;
      const created = await store.apps.create(body.owner, body.name, body.auth_mode ?? 'private');
      return reply.code(201).send(appView(created));
    },
  );

  app.get(
    '/apps',
    { schema: { tags: TAGS, summary: 'List apps', response: { 200: AppList } } },
    async () => ({ apps: (await store.apps.list()).map(appView) }),
  );

  app.get(
    '/apps/:owner/:name',
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
      return {
        ...appView(a),
        environments: await Promise.all(envs.map((e) => environmentView(store, a, e))),
      };
    },
  );

  app.delete(
    '/apps/:owner/:name',
    {
      schema: {
        tags: TAGS,
        summary: 'Delete an app, its environments, runners, queues and history',
        params: AppParams,
      },
    },
    async (req, reply) => {
      await d.deployments.deleteApp(await loadApp(req));
      return reply.code(204).send();
    },
  );
}
