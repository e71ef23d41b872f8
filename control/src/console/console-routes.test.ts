import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type InjectedControl, startInjectedControl } from '../../../test/support/injected-control.ts';

let c: InjectedControl;
let apiKey: string;

const inject = (o: {
  method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
  url: string;
  cookie?: string;
  headers?: Record<string, string>;
  payload?: object;
}) =>
  c.service.app.inject({
    method: o.method,
    url: o.url,
    headers: { ...(o.cookie ? { cookie: o.cookie } : {}), ...o.headers },
    ...(o.payload ? { payload: o.payload } : {}),
  });

async function signIn(key: string): Promise<{ cookie: string; csrf: string; body: Record<string, unknown> }> {
  const r = await inject({ method: 'POST', url: '/console/session', payload: { key } });
  expect(r.statusCode).toBe(200);
  const set = String(r.headers['set-cookie']);
  return { cookie: set.split(';')[0]!, csrf: r.json().csrf, body: r.json() };
}

beforeAll(async () => {
  c = await startInjectedControl({ env: { GANTRY_PUBLIC_URL: 'https://gantry.example.com' } });
  const admin = { authorization: `Key ${c.adminKey}` };
  for (const [owner, name, auth_mode] of [
    ['acme', 'mine', 'private'],
    ['globex', 'theirs', 'private'],
    ['globex', 'open', 'public'],
  ]) {
    const r = await inject({
      method: 'POST',
      url: '/v1/apps',
      headers: admin,
      payload: { owner, name, auth_mode },
    });
    expect(r.statusCode).toBe(201);
    await inject({
      method: 'POST',
      url: `/v1/apps/${owner}/${name}/environments/production/revisions`,
      headers: admin,
      payload: { image: 'example/none@sha256:0', activate: false },
    });
  }
  const k = await inject({
    method: 'POST',
    url: '/v1/keys',
    headers: admin,
    payload: { scope: 'API', owner: 'acme', description: 'console' },
  });
  apiKey = k.json().key;
});
afterAll(async () => {
  await c.close();
});

describe('the console session', () => {
  it('serves the page with a content security policy', async () => {
    const r = await inject({ method: 'GET', url: '/' });
    expect(r.statusCode).toBe(200);
    expect(r.headers['content-type']).toMatch(/^text\/html/);
    expect(r.headers['content-security-policy']).toContain("script-src 'self'");
    expect(r.body).toContain('/console/console.js');
  });

  it('refuses a wrong key with a message that says what to check', async () => {
    const r = await inject({ method: 'POST', url: '/console/session', payload: { key: 'gk_nope' } });
    expect(r.statusCode).toBe(401);
    expect(r.json()).toMatchObject({ code: 'GANTRY_ERR_UNAUTHORIZED' });
    expect(r.json().message).toMatch(/does not know this key/);
    expect(r.headers['set-cookie']).toBeUndefined();
  });

  it('keeps the key in an httpOnly, SameSite=Strict, Secure cookie', async () => {
    const r = await inject({ method: 'POST', url: '/console/session', payload: { key: c.adminKey } });
    expect(String(r.headers['set-cookie'])).toMatch(
      /^gantry_session=.+; Path=\/; HttpOnly; SameSite=Strict; Max-Age=\d+; Secure$/,
    );
    expect(r.body).not.toContain(c.adminKey);
  });

  it('lets the cookie read, and change only with the CSRF token', async () => {
    const { cookie, csrf } = await signIn(c.adminKey);
    expect((await inject({ method: 'GET', url: '/console/session', cookie })).json()).toMatchObject({
      scope: 'ADMIN',
    });
    expect((await inject({ method: 'GET', url: '/v1/apps', cookie })).statusCode).toBe(200);
    const url = '/v1/apps/acme/mine/environments/production/scaling';
    const without = await inject({ method: 'PATCH', url, cookie, payload: { keep_alive: 30 } });
    expect(without.statusCode).toBe(403);
    expect(without.json().code).toBe('GANTRY_ERR_CSRF');
    const wrong = await inject({
      method: 'PATCH',
      url,
      cookie,
      headers: { 'x-gantry-csrf': 'x' },
      payload: { keep_alive: 30 },
    });
    expect(wrong.json().code).toBe('GANTRY_ERR_CSRF');
    const right = await inject({
      method: 'PATCH',
      url,
      cookie,
      headers: { 'x-gantry-csrf': csrf },
      payload: { keep_alive: 30 },
    });
    expect(right.statusCode).toBe(200);
    expect(right.json().keep_alive).toBe(30);
  });

  it('gives an API key the endpoints it may call, and no management calls', async () => {
    const { cookie, body } = await signIn(apiKey);
    expect(body).toMatchObject({ scope: 'API', owner: 'acme' });
    expect((body.endpoints as { endpoint_id: string }[]).map((e) => e.endpoint_id).sort()).toEqual([
      'acme/mine',
      'globex/open',
    ]);
    const r = await inject({ method: 'GET', url: '/v1/apps', cookie });
    expect(r.statusCode).toBe(403);
  });

  it('signs out, and a revoked key is signed out too', async () => {
    const out = await inject({ method: 'DELETE', url: '/console/session' });
    expect(String(out.headers['set-cookie'])).toMatch(/^gantry_session=; .*Max-Age=0/);
    const { cookie } = await signIn(apiKey);
    const id = (await c.store.keys.list()).find((k) => k.scope === 'API')!.id;
    await c.store.keys.revoke(id);
    const r = await inject({ method: 'GET', url: '/console/session', cookie });
    expect(r.statusCode).toBe(401);
    expect(r.json().message).toMatch(/revoked: sign in again/);
  });
});
