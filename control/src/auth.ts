/**
 * Keys. A key is shown once and kept only as its SHA-256 hash (keys are long random strings, so a
 * slow hash would add nothing). Callers send `Authorization: Key <key>`, as fal's clients do.
 */
import { createHash, randomBytes } from 'node:crypto';
import { chmod, mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { FastifyRequest } from 'fastify';
import { GantryError } from '../../contract/src/errors.ts';
import { checkCsrf, sessionKey } from './console/session-cookie.ts';
import type { App, Caller } from './domain.ts';
import type { Store } from './store/store.ts';

export const ADMIN_KEY_ID = 'admin';
export const ADMIN_KEY_FILE = 'admin.key';

export const hashKey = (key: string) => createHash('sha256').update(key).digest('hex');

export function newKey(prefix: string): string {
  return `${prefix}_${randomBytes(24).toString('base64url')}`;
}

/** The key in an Authorization header (`Key …`, or `Bearer …` for tools that only know that). */
export function keyFromHeader(header: string | undefined): string | undefined {
  if (!header) return undefined;
  const m = /^(?:Key|Bearer)\s+(\S+)\s*$/i.exec(header);
  return m?.[1];
}

export interface AdminKeyOutcome {
  /** The key, when this start made it or read it from a file (so it can be printed). */
  key: string;
  source: 'setting' | 'file' | 'generated';
  file: string;
}

/**
 * Makes sure an admin key exists: GANTRY_ADMIN_KEY when set; otherwise the one kept in
 * `<data dir>/admin.key`; otherwise a new one, written there with mode 0600.
 */
export async function ensureAdminKey(
  store: Store,
  dataDir: string,
  fromSetting?: string,
): Promise<AdminKeyOutcome> {
  const file = path.join(dataDir, ADMIN_KEY_FILE);
  let key = fromSetting;
  let source: AdminKeyOutcome['source'] = 'setting';
  if (!key) {
    key = (await readFile(file, 'utf8').catch(() => '')).trim() || undefined;
    source = 'file';
  }
  if (!key) {
    key = newKey('gk_admin');
    source = 'generated';
    await mkdir(dataDir, { recursive: true, mode: 0o700 });
    await writeFile(file, `${key}\n`, { mode: 0o600 });
    await chmod(file, 0o600);
  }
  await store.keys.put(ADMIN_KEY_ID, hashKey(key), 'ADMIN', 'admin key');
  return { key, source, file };
}

/**
 * Who is calling: the key's id, scope and owner, or undefined for no (valid) key. The key comes
 * from the Authorization header or, for the web console, its session cookie; a change made with
 * the cookie must carry the session's CSRF token.
 */
export async function identify(
  store: Store,
  req: FastifyRequest,
  now: number = Date.now(),
): Promise<Caller | undefined> {
  const header = keyFromHeader(req.headers.authorization);
  if (header) return notExpired(await store.keys.find(hashKey(header)), now);
  const cookie = sessionKey(req);
  if (!cookie) return undefined;
  const who = notExpired(await store.keys.find(hashKey(cookie)), now);
  if (who) checkCsrf(req, cookie);
  return who;
}

/** An expired key is refused with its own code, so its holder knows to make a new one. */
function notExpired(who: Caller | undefined, now: number): Caller | undefined {
  if (who?.expires_at !== null && who?.expires_at !== undefined && who.expires_at <= now) {
    throw new GantryError(
      'GANTRY_ERR_KEY_EXPIRED',
      `Key ${who.id} expired at ${new Date(who.expires_at).toISOString()}: create a new one with \`gantry keys create\`.`,
    );
  }
  return who;
}

/** Management calls need an ADMIN key; an API key is refused (403), no key is 401. */
export async function requireAdmin(store: Store, req: FastifyRequest, now?: number): Promise<Caller> {
  const who = await identify(store, req, now);
  if (!who) throw new GantryError('GANTRY_ERR_UNAUTHORIZED');
  if (who.scope !== 'ADMIN')
    throw new GantryError('GANTRY_ERR_FORBIDDEN', 'Management calls need an ADMIN key; this is an API key.');
  return who;
}

/**
 * What a caller hears of an app it cannot see: the same for an app that does not exist and for a
 * private app its key may not call, so private app names cannot be probed.
 */
export function appNotFound(owner: string, name: string): GantryError {
  return new GantryError(
    'GANTRY_ERR_APP_NOT_FOUND',
    `No app ${owner}/${name} that this caller may call: check the name, and for a private app send a key of its owner as \`Authorization: Key <key>\`.`,
  );
}

/**
 * Calling an app, by its auth mode: `public` needs no key; `shared` any valid key; `private` a key
 * of the app's owner (an ADMIN key counts), and to anyone else it answers as if it did not exist.
 * Returns the caller when a valid key was sent, so its usage is recorded against it. A key limited
 * to apps or environments (or an ADMIN key limited to an owner) is refused elsewhere, whatever the
 * auth mode: a scoped key sent is a scoped key used.
 */
export async function requireAppAccess(
  store: Store,
  req: FastifyRequest,
  app: App,
  envName: string,
  now?: number,
): Promise<Caller | undefined> {
  const who = await identify(store, req, now);
  if (who) checkKeyScope(who, app, envName);
  if (app.auth_mode === 'public') return who;
  if (app.auth_mode === 'private' && (!who || (who.scope !== 'ADMIN' && who.owner !== app.owner))) {
    throw appNotFound(app.owner, app.name);
  }
  if (!who)
    throw new GantryError(
      'GANTRY_ERR_UNAUTHORIZED',
      `${app.owner}/${app.name} is ${app.auth_mode}: send a valid key as \`Authorization: Key <key>\`.`,
    );
  return who;
}

/** Throws GANTRY_ERR_KEY_SCOPE when the key's limits leave out this app or environment. */
export function checkKeyScope(who: Caller, app: App, envName: string): void {
  const id = `${app.owner}/${app.name}`;
  if (who.scope === 'ADMIN' && who.owner !== null && who.owner !== app.owner) {
    throw new GantryError(
      'GANTRY_ERR_KEY_SCOPE',
      `Key ${who.id} is limited to the apps of ${who.owner}; ${id} belongs to ${app.owner}.`,
    );
  }
  if (who.apps && !who.apps.includes(id)) {
    throw new GantryError(
      'GANTRY_ERR_KEY_SCOPE',
      `Key ${who.id} may call ${who.apps.join(', ')}, not ${id}.`,
    );
  }
  if (who.environments && !who.environments.includes(envName)) {
    throw new GantryError(
      'GANTRY_ERR_KEY_SCOPE',
      `Key ${who.id} may call the environments ${who.environments.join(', ')}, not ${envName} of ${id}.`,
    );
  }
}
