/**
 * Secrets of an environment: set (several at once), list (names and when they changed, never
 * values), unset. Runners read them when they start, so a change reaches running code through a
 * restart rollout; the answers say so.
 */
import type { FastifyInstance } from 'fastify';
import type { Static } from 'typebox';
import {
  SecretChange as ChangeView,
  EnvParams,
  SecretList,
  SecretParams,
  SetSecrets,
} from '../../../contract/src/management-api.ts';
import type { App, Environment } from '../domain.ts';
import type { EnvironmentSecrets } from '../secrets/environment-secrets.ts';
import type { Store } from '../store/store.ts';
import { appLoaders } from './load-app.ts';
import { iso } from './management.ts';

const TAGS = ['management v1'];
export function registerSecretRoutes(
  app: FastifyInstance,
  d: { store: Store; secrets: EnvironmentSecrets },
): void {
  const { loadEnv } = appLoaders(d.store);

  const changed = async (a: App, env: Environment, names: string[]): Promise<Static<typeof ChangeView>> => {
    const live = (await d.store.runners.list(env.id)).some((r) => r.ended_at === null);
    return {
      environment: env.name,
      names,
      restart_needed: live,
      hint: live
        ? `Running runners keep the old values until they restart: run \`gantry rollout ${a.owner}/${a.name} --env ${env.name}\`.`
        : 'No runner is running: the next runner to start gets the new values.',
    };
  };

  app.put(
    '/v1/apps/:owner/:name/environments/:env/secrets',
    {
      schema: {
        tags: TAGS,
        summary: 'Set secrets (encrypted at rest; given to runners as environment variables)',
        params: EnvParams,
        body: SetSecrets,
        response: { 200: ChangeView },
      },
    },
    async (req) => {
      const { app: a, env } = await loadEnv(req);
      const names = await d.secrets.set(env.id, (req.body as Static<typeof SetSecrets>).secrets);
      return changed(a, env, names);
    },
  );

  app.get(
    '/v1/apps/:owner/:name/environments/:env/secrets',
    {
      schema: {
        tags: TAGS,
        summary: 'List secret names and when they changed (never values)',
        params: EnvParams,
        response: { 200: SecretList },
      },
    },
    async (req) => {
      const { env } = await loadEnv(req);
      const list = await d.secrets.list(env.id);
      return {
        environment: env.name,
        secrets: list.map((s) => ({ name: s.name, updated_at: iso(s.updated_at)! })),
      };
    },
  );

  app.delete(
    '/v1/apps/:owner/:name/environments/:env/secrets/:secret',
    {
      schema: {
        tags: TAGS,
        summary: 'Unset a secret; several at once as a comma-separated list',
        params: SecretParams,
        response: { 200: ChangeView },
      },
    },
    async (req) => {
      const { app: a, env } = await loadEnv(req);
      const names = (req.params as { secret: string }).secret.split(',').filter((n) => n !== '');
      return changed(a, env, await d.secrets.unset(env.id, env.name, names));
    },
  );
}
