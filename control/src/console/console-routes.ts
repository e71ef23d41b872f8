/**
 * The web console: its page at `/`, its bundle under `/console/`, and its session routes (sign in
 * with a key, who am I, sign out). The bundle is built from console/ and committed in
 * console/dist (console/dist.test.ts keeps it in step with the source), so `npm start` serves it
 * with no build step.
 */
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Static } from 'typebox';
import { SessionView, SignIn } from '../../../contract/src/console-api.ts';
import { GantryError } from '../../../contract/src/errors.ts';
import { hashKey } from '../auth.ts';
import type { Caller } from '../domain.ts';
import { endpointId } from '../routes/views.ts';
import type { Store } from '../store/store.ts';
import { clearedSessionCookie, csrfToken, sessionCookie, sessionKey } from './session-cookie.ts';

/** The built console (console/dist at the repository root): a file this process reads, not code it imports. */
export const CONSOLE_DIST = fileURLToPath(new URL('../../../console/dist/', import.meta.url));

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.png': 'image/png',
  '.svg': 'image/svg+xml',
};

/**
 * Scripts and styles only from here; results may show images, audio and video from anywhere over
 * https (apps return file URLs) or inline data URLs. The page cannot be framed (clickjacking).
 */
const CSP = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data: blob: https:",
  "media-src 'self' data: blob: https:",
  "connect-src 'self'",
  "frame-ancestors 'none'",
  "base-uri 'none'",
  "form-action 'self'",
].join('; ');

export interface ConsoleDeps {
  store: Store;
  /** Where the built bundle is; default console/dist. */
  distDir?: string;
  /** Whether cookies get `Secure`: true when the public URL is https. */
  secureCookies: boolean;
}

export function registerConsoleRoutes(app: FastifyInstance, d: ConsoleDeps): void {
  const { store } = d;
  const files = loadBundle(d.distDir ?? CONSOLE_DIST);
  const TAGS = ['console'];

  const send = (reply: FastifyReply, name: string) => {
    const body = files.get(name);
    if (!body) {
      throw new GantryError(
        'GANTRY_ERR_ROUTE_NOT_FOUND',
        files.size === 0
          ? 'The console bundle is missing from console/dist: run `npm run build:console`.'
          : `No console file ${name}.`,
      );
    }
    return reply
      .type(TYPES[path.extname(name)] ?? 'application/octet-stream')
      .header('cache-control', 'no-cache')
      .header('x-content-type-options', 'nosniff')
      .header('content-security-policy', CSP)
      .header('referrer-policy', 'same-origin')
      .send(body);
  };

  app.get('/', { schema: { hide: true } }, (_req, reply) => send(reply, 'index.html'));
  app.get('/console/:file', { schema: { hide: true } }, (req, reply) =>
    send(reply, (req.params as { file: string }).file),
  );

  async function view(who: Caller, key: string): Promise<SessionView> {
    const base = { scope: who.scope, owner: who.owner, csrf: csrfToken(key) };
    if (who.scope === 'ADMIN') return base;
    const endpoints: SessionView['endpoints'] = [];
    for (const a of await store.apps.list()) {
      if (a.auth_mode === 'private' && a.owner !== who.owner) continue;
      for (const e of await store.apps.listEnvironments(a.id)) {
        endpoints.push({ endpoint_id: endpointId(a, e.name), auth_mode: a.auth_mode });
      }
    }
    return { ...base, endpoints };
  }

  async function signedIn(req: FastifyRequest): Promise<{ who: Caller; key: string }> {
    const key = sessionKey(req);
    const who = key ? await store.keys.find(hashKey(key)) : undefined;
    if (!key || !who) {
      throw new GantryError(
        'GANTRY_ERR_UNAUTHORIZED',
        key ? 'The key of this session was revoked: sign in again.' : 'Not signed in: sign in with a key.',
      );
    }
    return { who, key };
  }

  app.post(
    '/console/session',
    {
      schema: {
        tags: TAGS,
        summary: 'Sign the console in with an API or admin key (kept in an httpOnly cookie)',
        body: SignIn,
        response: { 200: SessionView },
      },
    },
    async (req, reply) => {
      const { key } = req.body as Static<typeof SignIn>;
      const who = await store.keys.find(hashKey(key.trim()));
      if (!who) {
        throw new GantryError(
          'GANTRY_ERR_UNAUTHORIZED',
          'Gantry does not know this key (or it was revoked). Check that it was copied whole; `gantry keys list` shows the keys that exist.',
        );
      }
      reply.header('set-cookie', sessionCookie(key.trim(), d.secureCookies));
      return view(who, key.trim());
    },
  );

  app.get(
    '/console/session',
    {
      schema: {
        tags: TAGS,
        summary: 'Who the console is signed in as, and its CSRF token',
        response: { 200: SessionView },
      },
    },
    async (req) => {
      const { who, key } = await signedIn(req);
      return view(who, key);
    },
  );

  app.delete(
    '/console/session',
    { schema: { tags: TAGS, summary: 'Sign the console out' } },
    async (_req, reply) => {
      // Signing out needs no token: the worst another site can do with it is sign you out.
      return reply.header('set-cookie', clearedSessionCookie(d.secureCookies)).code(204).send();
    },
  );
}

function loadBundle(dir: string): Map<string, Buffer> {
  const files = new Map<string, Buffer>();
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return files;
  }
  for (const name of names) {
    if (TYPES[path.extname(name)]) files.set(name, readFileSync(path.join(dir, name)));
  }
  return files;
}
