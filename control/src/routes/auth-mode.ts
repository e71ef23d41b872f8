/** Changing an app's auth mode (private, public, shared) after it was created. */
import type { FastifyInstance } from 'fastify';
import type { Static } from 'typebox';
import { AppParams, AppView, PatchApp } from '../../../contract/src/management-api.ts';
import type { Store } from '../store/store.ts';
import { appLoaders } from './load-app.ts';
import { appView } from './management.ts';

export function registerAuthModeRoutes(app: FastifyInstance, d: { store: Store }): void {
  const { loadApp } = appLoaders(d.store);
  app.patch(
    '/v1/apps/:owner/:name',
    {
      schema: {
        tags: ['management v1'],
        summary: "Change an app's auth mode",
        params: AppParams,
        body: PatchApp,
        response: { 200: AppView },
      },
    },
    async (req) => {
      const a = await loadApp(req);
      const { auth_mode } = req.body as Static<typeof PatchApp>;
      await d.store.apps.setAuthMode(a.id, auth_mode);
      return appView({ ...a, auth_mode });
    },
  );
}
