/**
 * Who may do what, route by route: every fal route under each auth mode × caller, and every
 * management route with no key, an API key and an ADMIN key.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type InjectedControl, startInjectedControl } from '../support/injected-control.ts';

type Caller = 'none' | 'own' | 'other' | 'admin' | 'revoked';
const CALLERS: Caller[] = ['none', 'own', 'other', 'admin', 'revoked'];
/** What each caller gets on each auth mode: 'ok', or the refusal's status. */
/** A private app answers callers who may not call it as if it did not exist (404), so names cannot be probed. */
const EXPECTED: Record<string, Record<Caller, 'ok' | 401 | 403 | 404>> = {
  public: { none: 'ok', own: 'ok', other: 'ok', admin: 'ok', revoked: 'ok' },
  private: { none: 404, own: 'ok', other: 404, admin: 'ok', revoked: 404 },
  shared: { none: 401, own: 'ok', other: 'ok', admin: 'ok', revoked: 401 },
};

describe('auth modes and key scopes', () => {
  let c: InjectedControl;
  const keys: Partial<Record<Caller, string>> = {};
  const keyIds: Partial<Record<Caller, string>> = {};
  const headers = (who: Caller) => (keys[who] ? { authorization: `Key ${keys[who]}` } : {});
  const inject = (
    who: Caller,
    method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE',
    url: string,
    payload?: unknown,
  ) =>
    c.service.app.inject({
      method,
      url,
      headers: headers(who),
      ...(payload !== undefined ? { payload: payload as object } : {}),
    });

  beforeAll(async () => {
    c = await startInjectedControl();
    keys.admin = c.adminKey;
    for (const [who, owner] of [
      ['own', 'acme'],
      ['other', 'globex'],
      ['revoked', 'acme'],
    ] as const) {
      const r = await inject('admin', 'POST', '/v1/keys', { scope: 'API', owner, description: who });
      expect(r.statusCode).toBe(201);
      keys[who] = r.json().key;
      keyIds[who] = r.json().id;
    }
    expect((await inject('admin', 'DELETE', `/v1/keys/${keyIds.revoked}`)).statusCode).toBe(204);
    for (const mode of Object.keys(EXPECTED)) {
      expect(
        (await inject('admin', 'POST', '/v1/apps', { owner: 'acme', name: mode, auth_mode: mode }))
          .statusCode,
      ).toBe(201);
      // An image revision: process compute cannot start it, so requests stay queued and no process runs.
      const rev = await inject('admin', 'POST', `/v1/apps/acme/${mode}/environments/production/revisions`, {
        image: 'example/none@sha256:0',
        activate: true,
        strategy: 'recreate',
      });
      expect(rev.statusCode).toBe(201);
    }
  });
  afterAll(async () => {
    await c.close();
  });

  it.each(Object.keys(EXPECTED))('fal routes of a %s app', async (mode) => {
    // A finished (cancelled) request every caller can look at, when allowed to.
    const done = await inject('admin', 'POST', `/queue/acme/${mode}`, {});
    const rid = done.json().request_id as string;
    await inject('admin', 'PUT', `/queue/acme/${mode}/requests/${rid}/cancel`);
    for (const who of CALLERS) {
      const want = EXPECTED[mode]![who];
      const q = `/queue/acme/${mode}/requests/${rid}`;
      const results = {
        submit: await inject(who, 'POST', `/queue/acme/${mode}`, { n: 1 }),
        status: await inject(who, 'GET', `${q}/status`),
        stream: await inject(who, 'GET', `${q}/status/stream`),
        result: await inject(who, 'GET', q),
        cancel: await inject(who, 'PUT', `${q}/cancel`),
        proxy: await c.service.app.inject({
          method: 'GET',
          url: '/fal/proxy',
          headers: {
            ...headers(who),
            'x-fal-target-url': `https://queue.fal.run/acme/${mode}/requests/${rid}/status`,
          },
        }),
      };
      for (const [route, res] of Object.entries(results)) {
        const label = `${mode} ${route} as ${who}`;
        if (want === 'ok') {
          expect(res.statusCode, label).not.toBe(401);
          expect(res.statusCode, label).not.toBe(403);
          expect(res.statusCode, label).toBeLessThan(500);
        } else {
          expect(res.statusCode, label).toBe(want);
          expect(res.json().code, label).toBe(
            { 401: 'GANTRY_ERR_UNAUTHORIZED', 403: 'GANTRY_ERR_FORBIDDEN', 404: 'GANTRY_ERR_APP_NOT_FOUND' }[
              want
            ],
          );
        }
      }
      if (want === 'ok') {
        expect(results.submit.statusCode).toBe(200);
        expect(results.status.statusCode).toBe(200);
        expect(results.cancel.json()).toEqual({ status: 'ALREADY_COMPLETED' });
      }
      // The sync call is refused the same way (allowed callers would wait for a runner, so not here).
      if (want !== 'ok') expect((await inject(who, 'POST', `/run/acme/${mode}`, {})).statusCode).toBe(want);
    }
  });

  it('records usage against the caller’s key', async () => {
    const r = await c.store.db.query<{ key_id: string | null; n: number }>(
      `SELECT q.key_id, COUNT(*)::int AS n FROM requests q JOIN environments e ON e.id = q.environment_id
       JOIN apps a ON a.id = e.app_id WHERE a.name = 'shared' GROUP BY q.key_id`,
    );
    const byKey = Object.fromEntries(r.rows.map((x) => [x.key_id ?? 'none', Number(x.n)]));
    expect(byKey[keyIds.other!]).toBe(1);
    expect(byKey[keyIds.own!]).toBe(1);
    const list = await inject('admin', 'GET', '/v1/keys');
    const other = list.json().keys.find((k: { id: string }) => k.id === keyIds.other);
    expect(other).toMatchObject({ scope: 'API', owner: 'globex', requests: 2 });
    expect(list.body).not.toContain(keys.other);
    expect(list.json().keys.map((k: { id: string }) => k.id)).not.toContain(keyIds.revoked);
  });

  it('every management route: 401 without a key, 403 with an API key, served with an ADMIN key', async () => {
    const spec = (await c.service.app.inject({ method: 'GET', url: '/openapi.json' })).json() as {
      paths: Record<string, Record<string, unknown>>;
    };
    const routes = Object.entries(spec.paths)
      .filter(([p]) => p.startsWith('/v1/'))
      .flatMap(([p, methods]) => Object.keys(methods).map((m) => [m.toUpperCase(), p] as const))
      // Registering a build authenticates with the workflow's GitHub OIDC token (builds' own suite).
      .filter(([m, p]) => !(m === 'POST' && p === '/v1/builds'));
    expect(routes.length).toBeGreaterThanOrEqual(25);
    const fill = (p: string) =>
      p
        .replace('{owner}', 'acme')
        .replace('{name}', 'private')
        .replace('{env}', 'production')
        .replace('{number}', '9')
        .replace(/\{[a-z_]+\}/g, 'x') + (p === '/v1/builds' ? '?repository=acme/x' : '');
    for (const [method, p] of routes) {
      const url = fill(p);
      const label = `${method} ${p}`;
      const none = await inject(
        'none',
        method as 'GET',
        url,
        method === 'GET' || method === 'DELETE' ? undefined : {},
      );
      expect(none.statusCode, `${label} without a key`).toBe(401);
      const api = await inject(
        'own',
        method as 'GET',
        url,
        method === 'GET' || method === 'DELETE' ? undefined : {},
      );
      expect(api.statusCode, `${label} with an API key`).toBe(403);
      expect(api.json().message).toMatch(/ADMIN key/);
    }
    // Read-only routes answer an ADMIN key (changing routes are exercised by the other suites).
    for (const [method, p] of routes.filter(([m, p]) => m === 'GET' && !p.includes('{request_id}'))) {
      const res = await inject('admin', 'GET', fill(p));
      expect(res.statusCode, `${method} ${p} as admin`).toBe(200);
    }
  });
});
