/**
 * Finding the app and environment a management route names, with not-found messages that say
 * what exists instead (management routes are admin-only, so listing names is no leak).
 */
import type { FastifyRequest } from 'fastify';
import { GantryError } from '../../../contract/src/errors.ts';
import type { App, Environment } from '../domain.ts';
import type { Store } from '../store/store.ts';

export function appLoaders(store: Store) {
  async function loadApp(req: FastifyRequest): Promise<App> {
    const { owner, name } = req.params as { owner: string; name: string };
    const a = await store.apps.get(owner, name);
    if (!a) {
      const all = (await store.apps.list()).map((x) => `${x.owner}/${x.name}`);
      const mine = all.filter((id) => id.startsWith(`${owner}/`));
      const shown = (mine.length > 0 ? mine : all).slice(0, 20);
      throw new GantryError(
        'GANTRY_ERR_APP_NOT_FOUND',
        `No app ${owner}/${name} (${mine.length > 0 ? `apps of ${owner}` : 'apps'}: ${shown.join(', ') || 'none'}).`,
      );
    }
    return a;
  }

  async function loadEnv(req: FastifyRequest): Promise<{ app: App; env: Environment }> {
    const a = await loadApp(req);
    const { env: name } = req.params as { env: string };
    const env = await store.apps.getEnvironment(a.id, name);
    if (!env) {
      const names = (await store.apps.listEnvironments(a.id)).map((e) => e.name);
      throw new GantryError(
        'GANTRY_ERR_ENVIRONMENT_NOT_FOUND',
        `${a.owner}/${a.name} has no environment "${name}" (it has: ${names.join(', ')}).`,
      );
    }
    return { app: a, env };
  }

  return { loadApp, loadEnv };
}
