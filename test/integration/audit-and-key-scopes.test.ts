/**
 * Guard rails of the management API against a real control service: the audit log records who did
 * what, keys limited to apps, environments or an owner stay inside their limits, keys expire, and
 * a key's rate limit answers 429 the way a queue limit does.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AuditList, CreatedKey } from '../../contract/src/management-api.ts';
import { eventually, startTestControl, type TestControl } from '../support/control.ts';

describe('audit log and key scopes', () => {
  let control: TestControl;
  beforeAll(async () => {
    control = await startTestControl();
    for (const [owner, name] of [
      ['acme', 'one'],
      ['acme', 'two'],
      ['rival', 'app'],
    ] as const) {
      const res = await control.admin('/v1/apps', { body: { owner, name, auth_mode: 'shared' } });
      expect(res.status, await res.clone().text()).toBe(201);
    }
    expect(
      (await control.admin('/v1/apps/acme/one/environments', { body: { name: 'staging' } })).status,
    ).toBe(201);
  });
  afterAll(async () => {
    await control?.close();
  });

  const as = (key: string, pathname: string, init: { method?: string; body?: unknown } = {}) =>
    fetch(`${control.url}${pathname}`, {
      method: init.method ?? (init.body === undefined ? 'GET' : 'POST'),
      headers: {
        authorization: `Key ${key}`,
        ...(init.body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      ...(init.body === undefined ? {} : { body: JSON.stringify(init.body) }),
    });
  const createKey = async (body: Record<string, unknown>): Promise<CreatedKey> => {
    const res = await control.admin('/v1/keys', { body });
    expect(res.status, await res.clone().text()).toBe(201);
    return (await res.json()) as CreatedKey;
  };
  const audit = async (query = '', key = control.adminKey): Promise<AuditList> => {
    const res = await as(key, `/v1/audit${query}`);
    expect(res.status, await res.clone().text()).toBe(200);
    return (await res.json()) as AuditList;
  };
  const codeOf = async (res: Response) => ((await res.json()) as { code: string }).code;

  it('records key, secret, scaling and app changes with who, what, target and where; never a secret value', async () => {
    const since = new Date().toISOString();
    const k = await createKey({ scope: 'API', owner: 'acme', description: 'audited' });
    expect((await control.admin(`/v1/keys/${k.id}`, { method: 'DELETE' })).status).toBe(204);
    const put = await as(control.adminKey, '/v1/apps/acme/two/environments/production/secrets', {
      method: 'PUT',
      body: { secrets: { TOKEN: 'very-secret-value-71' } },
    });
    expect(put.status).toBe(200);
    const patch = await as(control.adminKey, '/v1/apps/acme/two/environments/production/scaling', {
      method: 'PATCH',
      body: { keep_alive: 42 },
    });
    expect(patch.status).toBe(200);
    const del = await as(control.adminKey, '/v1/apps/acme/two/environments/production/secrets/TOKEN', {
      method: 'DELETE',
    });
    expect(del.status).toBe(200);
    expect((await control.admin('/v1/apps/acme/two', { method: 'DELETE' })).status).toBe(204);
    // A refused change is recorded too, with its status.
    expect((await control.admin('/v1/keys/admin', { method: 'DELETE' })).status).toBe(409);

    // The hook writes once the answer has gone: wait for the last one.
    const log = await eventually(async () => {
      const l = await audit(`?since=${encodeURIComponent(since)}`);
      return l.entries.length >= 7 ? l : undefined;
    });
    const actions = log.entries.map((e) => `${e.action} ${e.target} ${e.status}`).reverse();
    expect(actions).toEqual([
      'key.create /keys 201',
      `key.revoke ${k.id} 204`,
      'secret.set acme/two production 200',
      'scaling.update acme/two production 200',
      'secret.delete acme/two production TOKEN 200',
      'app.delete acme/two 204',
      'key.revoke admin 409',
    ]);
    for (const e of log.entries) {
      expect(e.actor).toBe('admin');
      expect(e.ip).toMatch(/127\.0\.0\.1/);
    }
    expect(log.entries.find((e) => e.action === 'secret.set')?.detail).toEqual({ names: ['TOKEN'] });
    expect(log.entries.find((e) => e.action === 'scaling.update')?.detail).toEqual({ keep_alive: 42 });
    expect(JSON.stringify(log)).not.toContain('very-secret-value-71');

    // Filters and pages.
    const two = await audit(`?app=acme/two&since=${encodeURIComponent(since)}`);
    expect(two.entries.map((e) => e.action).reverse()).toEqual([
      'secret.set',
      'scaling.update',
      'secret.delete',
      'app.delete',
    ]);
    const page1 = await audit(`?app=acme/two&limit=3&since=${encodeURIComponent(since)}`);
    expect(page1.entries).toHaveLength(3);
    expect(page1.next_before).toBe(page1.entries[2]!.seq);
    const page2 = await audit(
      `?app=acme/two&limit=3&since=${encodeURIComponent(since)}&before=${page1.next_before}`,
    );
    expect(page2.entries.map((e) => e.action)).toEqual(['secret.set']);
    expect(page2.next_before).toBeNull();
    expect((await audit('?actor=nobody')).entries).toEqual([]);
  });

  it('records the GitHub login a caller acted for', async () => {
    const res = await control.admin('/v1/apps/acme/one/environments/production/active-revision', {
      method: 'PUT',
      body: { revision: 99, by: 'github:octocat' },
    });
    expect(res.status).toBe(404);
    const e = await eventually(async () => (await audit('?actor=github:octocat')).entries[0]);
    expect(e).toMatchObject({ actor: 'admin', on_behalf_of: 'github:octocat', action: 'revision.activate' });
  });

  it('keeps an API key to its apps and environments', async () => {
    const k = await createKey({
      scope: 'API',
      owner: 'acme',
      apps: ['acme/one'],
      environments: ['production'],
    });
    expect(k).toMatchObject({ apps: ['acme/one'], environments: ['production'] });
    const submit = (endpoint: string) => as(k.key, `/queue/${endpoint}`, { body: { x: 1 } });
    // In scope: it gets as far as the app (which has no revision yet).
    const ok = await submit('acme/one');
    expect(await codeOf(ok)).toBe('GANTRY_ERR_NO_ACTIVE_REVISION');
    for (const endpoint of ['acme/one--staging', 'rival/app']) {
      const res = await submit(endpoint);
      expect(res.status, endpoint).toBe(403);
      expect(await codeOf(res), endpoint).toBe('GANTRY_ERR_KEY_SCOPE');
    }
  });

  it('refuses keys past their expiry with their own code, and expiries in the past at creation', async () => {
    const past = await control.admin('/v1/keys', {
      body: { scope: 'API', owner: 'acme', expires_at: '2001-01-01T00:00:00Z' },
    });
    expect(past.status).toBe(400);
    expect(((await past.json()) as { message: string }).message).toMatch(/in the future/);

    const k = await createKey({
      scope: 'ADMIN',
      expires_at: new Date(Date.now() + 1500).toISOString(),
    });
    expect(k.expires_at).not.toBeNull();
    const res = await eventually(async () => {
      const r = await as(k.key, '/v1/apps');
      return r.status === 401 ? r : undefined;
    });
    expect(await codeOf(res)).toBe('GANTRY_ERR_KEY_EXPIRED');
  });

  it('keeps an ADMIN key limited to an owner to that owner', async () => {
    const k = await createKey({ scope: 'ADMIN', owner: 'acme' });
    expect((await as(k.key, '/v1/apps/acme/one/environments')).status).toBe(200);
    const other = await as(k.key, '/v1/apps/rival/app/environments');
    expect(other.status).toBe(403);
    expect(await codeOf(other)).toBe('GANTRY_ERR_KEY_SCOPE');
    const all = await as(k.key, '/v1/apps');
    expect(all.status).toBe(403);
    expect(await codeOf(all)).toBe('GANTRY_ERR_KEY_SCOPE');
    const foreign = await as(k.key, '/v1/apps', {
      body: { owner: 'rival', name: 'new', auth_mode: 'public' },
    });
    expect(await codeOf(foreign)).toBe('GANTRY_ERR_KEY_SCOPE');
    expect(
      (await as(k.key, '/v1/apps', { body: { owner: 'acme', name: 'three', auth_mode: 'public' } })).status,
    ).toBe(201);
    // Its audit log holds its owner's entries only.
    await as(control.adminKey, '/v1/apps/rival/app/environments', { body: { name: 'staging' } });
    const seen = await eventually(async () => {
      const l = await audit('', k.key);
      return l.entries.some((e) => e.target === 'acme/three') ? l : undefined;
    });
    expect(seen.entries.length).toBeGreaterThan(0);
    for (const e of seen.entries) expect(e.app ?? 'acme/').toMatch(/^acme\//);
    expect((await as(k.key, '/v1/audit?app=rival/app')).status).toBe(403);
  });

  it("answers a key's rate limit with 429, retry-after and a stable code", async () => {
    const k = await createKey({ scope: 'API', owner: 'acme', rate_limit: 2 });
    const codes: string[] = [];
    let last: Response | undefined;
    for (let i = 0; i < 3; i++) {
      last = await as(k.key, '/queue/acme/one', { body: {} });
      codes.push(`${last.status}`);
    }
    expect(codes).toEqual(['409', '409', '429']);
    expect(Number(last!.headers.get('retry-after'))).toBeGreaterThan(0);
    expect(await last!.json()).toMatchObject({
      code: 'GANTRY_ERR_RATE_LIMITED',
      detail: expect.stringMatching(/2 requests a minute/),
      rate_limit: 2,
    });
  });
});
