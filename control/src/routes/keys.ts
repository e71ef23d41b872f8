/**
 * Keys: created (the key is in that answer only), listed (id, scope, owner, description, usage;
 * never the key) and revoked. ADMIN keys manage; API keys call apps: any app of their owner, and
 * shared and public apps of anyone.
 */
import { randomBytes } from 'node:crypto';
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
import type { V1Scope } from './v1.ts';
import { iso } from './views.ts';

const TAGS = ['management v1'];
const view = (k: KeyRecord): Static<typeof KeyView> => ({
  id: k.id,
  scope: k.scope,
  owner: k.owner,
  description: k.description,
  created_at: iso(k.created_at)!,
  apps: k.apps ?? null,
  environments: k.environments ?? null,
  expires_at: iso(k.expires_at ?? null),
  rate_limit: k.rate_limit ?? null,
});

/** The limits a new key asks for, checked: what each scope may carry, an expiry in the future. */
function checkLimits(body: Static<typeof CreateKey>, now: number): number | null {
  if (body.scope === 'API' && !body.owner) {
    throw new GantryError(
      'GANTRY_ERR_VALIDATION',
      'An API key needs an `owner` (whose private apps it may call).',
    );
  }
  if (body.scope === 'ADMIN' && (body.apps || body.environments)) {
    throw new GantryError(
      'GANTRY_ERR_VALIDATION',
      'An ADMIN key is limited by `owner` (the apps of one owner), not by `apps` or `environments`.',
    );
  }
  if (body.expires_at === undefined) return null;
  const at = Date.parse(body.expires_at);
  if (!Number.isFinite(at) || at <= now) {
    throw new GantryError(
      'GANTRY_ERR_VALIDATION',
      `expires_at must be a time in the future, got "${body.expires_at}".`,
    );
  }
  return at;
}

export function registerKeyRoutes(
  app: V1Scope,
  d: { store: Store; clock?: (() => number) | undefined },
): void {
  const now = d.clock ?? Date.now;
  app.post(
    '/keys',
    {
      schema: {
        tags: TAGS,
        summary: 'Create a key; the answer is the only time the key is shown',
        body: CreateKey,
        response: { 201: CreatedKey },
      },
    },
    async (req, reply) => {
      const body = req.body;
      const expiresAt = checkLimits(body, now());
      const key = newKey(body.scope === 'ADMIN' ? 'gk_admin' : 'gk_api');
      const rec = await d.store.keys.create({
        id: `key_${randomBytes(6).toString('hex')}`,
        keyHash: hashKey(key),
        scope: body.scope,
        owner: body.owner ?? null,
        description: body.description ?? '',
        apps: body.apps ?? null,
        environments: body.environments ?? null,
        expires_at: expiresAt,
        rate_limit: body.rate_limit ?? null,
      });
      return reply.code(201).send({ ...view(rec), key });
    },
  );

  app.get(
    '/keys',
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
    '/keys/:id',
    { schema: { tags: TAGS, summary: 'Revoke a key', params: KeyParams } },
    async (req, reply) => {
      const { id } = req.params;
      if (id === ADMIN_KEY_ID) throw new GantryError('GANTRY_ERR_KEY_PROTECTED');
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
