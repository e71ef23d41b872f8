/**
 * Keys: created (the key is in that answer only), listed (id, scope, owner, description, usage;
 * never the key) and revoked. ADMIN keys manage; API keys call apps: any app of their owner, and
 * shared and public apps of anyone.
 */
import { randomBytes } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import type { Static } from 'typebox';
import { GantryError } from '../../../contract/src/errors.ts';
import {
  CreatedKey,
  CreateKey,
  KeyList,
  KeyParams,
  type KeyView,
} from '../../../contract/src/management-api.ts';
import { ADMIN_KEY_ID, hashKey, newKey } from '../auth.ts';
import type { KeyRecord } from '../domain.ts';
import type { Store } from '../store/store.ts';
import { iso } from './management.ts';

const TAGS = ['management v1'];
const view = (k: KeyRecord): Static<typeof KeyView> => ({
  id: k.id,
  scope: k.scope,
  owner: k.owner,
  description: k.description,
  created_at: iso(k.created_at)!,
});

export function registerKeyRoutes(app: FastifyInstance, d: { store: Store }): void {
  app.post(
    '/v1/keys',
    {
      schema: {
        tags: TAGS,
        summary: 'Create a key; the answer is the only time the key is shown',
        body: CreateKey,
        response: { 201: CreatedKey },
      },
    },
    async (req, reply) => {
      const body = req.body as Static<typeof CreateKey>;
      if (body.scope === 'API' && !body.owner) {
        throw new GantryError(
          'GANTRY_ERR_VALIDATION',
          'An API key needs an `owner` (whose private apps it may call).',
        );
      }
      const key = newKey(body.scope === 'ADMIN' ? 'gk_admin' : 'gk_api');
      const rec = await d.store.keys.create({
        id: `key_${randomBytes(6).toString('hex')}`,
        keyHash: hashKey(key),
        scope: body.scope,
        owner: body.owner ?? null,
        description: body.description ?? '',
      });
      return reply.code(201).send({ ...view(rec), key });
    },
  );

  app.get(
    '/v1/keys',
    {
      schema: {
        tags: TAGS,
        summary: 'List keys that are not revoked, with their usage (never the key)',
        response: { 200: KeyList },
      },
    },
    async () => ({
      keys: (await d.store.keys.list()).map((k) => ({
        ...view(k),
        requests: k.requests,
        last_used_at: iso(k.last_used_at),
      })),
    }),
  );

  app.delete(
    '/v1/keys/:id',
    { schema: { tags: TAGS, summary: 'Revoke a key', params: KeyParams } },
    async (req, reply) => {
      const { id } = req.params as { id: string };
      if (id === ADMIN_KEY_ID) {
        throw new GantryError(
          'GANTRY_ERR_FORBIDDEN',
          'The admin key comes from GANTRY_ADMIN_KEY or <data dir>/admin.key; change it there.',
        );
      }
      if (!(await d.store.keys.revoke(id))) {
        const ids = (await d.store.keys.list()).map((k) => k.id);
        throw new GantryError(
          'GANTRY_ERR_KEY_NOT_FOUND',
          `No key ${id} (keys: ${ids.join(', ') || 'none'}).`,
        );
      }
      return reply.code(204).send();
    },
  );
}
