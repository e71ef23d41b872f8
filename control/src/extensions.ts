/**
 * Mounts the extensions the process entry composed (contract/src/extension.ts): each gets its own
 * fastify scope under its prefix, control's database, and an admin key minted at this start and
 * kept only in memory, with which it calls the management API in process. The key is this control
 * process's own (`<name>@<control id>`): a replica starting beside it must not replace it.
 */
import { randomBytes } from 'node:crypto';
import type { FastifyBaseLogger, FastifyInstance } from 'fastify';
import type {
  ControlExtension,
  MountedExtension,
  RegisteredBuild,
  SqlHandle,
} from '../../contract/src/extension.ts';
import { hashKey } from './auth.ts';
import { CONTROL_ALIVE_MS } from './scaling/scaler.ts';
import type { Store } from './store/store.ts';

export interface MountedExtensions {
  /** Tells every extension of a new build; never rejects (each extension logs its own failures). */
  buildRegistered(build: RegisteredBuild): Promise<void>;
  /**
   * Who may register builds when GANTRY_BUILD_REPOSITORIES is unset, as the extensions that know
   * say (the GitHub App: where it is installed); undefined when none does (then any repository).
   */
  mayRegisterBuilds: ((repository: string) => Promise<boolean>) | undefined;
  /** Lets every extension finish its work, before control closes the store. */
  close(): Promise<void>;
}

export async function mountExtensions(
  app: FastifyInstance,
  extensions: readonly ControlExtension[],
  o: {
    store: Store;
    sql: SqlHandle;
    clock: () => number;
    publicUrl: () => string;
    /** This control process (its keys are its own). */
    instance: string;
  },
): Promise<MountedExtensions> {
  const mounted: { name: string; hooks: MountedExtension; log: FastifyBaseLogger }[] = [];
  const keyIds: string[] = [];
  for (const ext of extensions) {
    // Renewed at every start, so a key that leaked from an earlier run is already dead.
    const key = `gk_ext_${randomBytes(24).toString('base64url')}`;
    const keyId = `${ext.name}@${o.instance}`;
    await o.store.keys.put(keyId, hashKey(key), 'ADMIN', `${ext.name} (in process, renewed at every start)`);
    await o.store.keys.revokeStaleInstanceKeys(ext.name, keyId, o.clock() - CONTROL_ALIVE_MS);
    keyIds.push(keyId);
    const log = app.log.child({ component: ext.name });
    await app.register(
      async (scope) => {
        const hooks = await ext.mount({
          routes: scope,
          admin: { url: 'http://control.internal', key, fetch: injectFetch(app) },
          sql: o.sql,
          log,
          clock: o.clock,
          publicUrl: o.publicUrl,
        });
        mounted.push({ name: ext.name, hooks, log });
      },
      { prefix: ext.prefix },
    );
  }
  const deciders = mounted.flatMap(({ hooks }) =>
    hooks.mayRegisterBuilds ? [hooks.mayRegisterBuilds.bind(hooks)] : [],
  );
  return {
    // Any extension that knows the repository lets it in.
    mayRegisterBuilds:
      deciders.length === 0
        ? undefined
        : async (repository) => {
            for (const decide of deciders) if (await decide(repository)) return true;
            return false;
          },
    async buildRegistered(build) {
      await Promise.all(
        mounted.map(({ hooks, log }) =>
          hooks.buildRegistered?.(build).catch((err: unknown) => {
            log.error({ err, build: build.id }, 'an extension failed on a registered build');
          }),
        ),
      );
    },
    async close() {
      for (const { hooks } of mounted) await hooks.close?.();
      for (const id of keyIds) await o.store.keys.revoke(id).catch(() => false);
    },
  };
}

/** A fetch onto the fastify app itself: requests go through every hook and route, never a socket. */
export function injectFetch(app: FastifyInstance): typeof fetch {
  return async (input, init) => {
    const url = new URL(typeof input === 'string' ? input : input instanceof URL ? input.href : input.url);
    const headers: Record<string, string> = {};
    new Headers(init?.headers).forEach((v, k) => {
      headers[k] = v;
    });
    const res = await app.inject({
      method: (init?.method ?? 'GET') as 'GET',
      url: `${url.pathname}${url.search}`,
      headers,
      ...(typeof init?.body === 'string' ? { payload: init.body } : {}),
    });
    return new Response(res.statusCode === 204 ? null : res.body, {
      status: res.statusCode,
      headers: { 'content-type': String(res.headers['content-type'] ?? 'application/json') },
    });
  };
}
