/**
 * Every input a user can get wrong, against a real control service: a stable code, a clear
 * message, the right status, and no half-made record left behind.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HELLO_COMMAND, REPO_ROOT, startTestControl, type TestControl } from '../support/control.ts';

let c: TestControl;
const BODY_LIMIT = 4096;

beforeAll(async () => {
  c = await startTestControl({ env: { GANTRY_BODY_LIMIT: String(BODY_LIMIT) }, postgres: true });
  // An app whose runner is never needed here: scaling is capped so submits just queue.
  await c.deploy({
    name: 'echo',
    command: ['node', '-e', 'setInterval(()=>{},1000)'],
    settings: { startup_timeout: 5 },
  });
  await c.deploy({ name: 'vault', authMode: 'private', command: ['node', '-e', 'setInterval(()=>{},1000)'] });
});
afterAll(async () => {
  await c?.close();
});

const post = (path: string, body: string, headers: Record<string, string> = {}) =>
  fetch(`${c.url}${path}`, {
    method: 'POST',
    body,
    headers: { 'content-type': 'application/json', ...headers },
  });

async function requestCount(app: string): Promise<number> {
  const res = await c.admin(`/v1/apps/test/${app}/environments/production/requests`);
  return ((await res.json()) as { requests: unknown[] }).requests.length;
}

describe('bad input on the fal queue API', () => {
  it('unknown app → 404 GANTRY_ERR_APP_NOT_FOUND on every route', async () => {
    for (const [method, path] of [
      ['POST', '/queue/test/nope'],
      ['POST', '/run/test/nope'],
      ['GET', '/queue/test/nope/requests/x/status'],
      ['GET', '/queue/test/nope/requests/x'],
      ['PUT', '/queue/test/nope/requests/x/cancel'],
    ] as const) {
      const res = await fetch(`${c.url}${path}`, {
        method,
        ...(method === 'POST' ? { body: '{}', headers: { 'content-type': 'application/json' } } : {}),
      });
      expect(res.status, `${method} ${path}`).toBe(404);
      expect(await res.json()).toMatchObject({
        code: 'GANTRY_ERR_APP_NOT_FOUND',
        message: expect.stringMatching(/^No app test\/nope that this caller may call/),
      });
    }
  });

  it('unknown environment → 404 naming it', async () => {
    const res = await post('/queue/test/echo--staging', '{}');
    expect(res.status).toBe(404);
    expect(await res.json()).toMatchObject({ code: 'GANTRY_ERR_ENVIRONMENT_NOT_FOUND' });
  });

  it('a body that is not JSON → 400 GANTRY_ERR_BAD_JSON, and no request is stored', async () => {
    const before = await requestCount('echo');
    const res = await post('/queue/test/echo', '{"name": ');
    expect(res.status).toBe(400);
    const body = (await res.json()) as { code: string; message: string };
    expect(body.code).toBe('GANTRY_ERR_BAD_JSON');
    expect(body.message).toMatch(/not valid JSON/);
    expect(await requestCount('echo')).toBe(before);
  });

  it('a body over the limit → 413 GANTRY_ERR_PAYLOAD_TOO_LARGE, and no request is stored', async () => {
    const before = await requestCount('echo');
    const res = await post('/queue/test/echo', JSON.stringify({ blob: 'x'.repeat(BODY_LIMIT * 2) }));
    expect(res.status).toBe(413);
    expect(await res.json()).toMatchObject({ code: 'GANTRY_ERR_PAYLOAD_TOO_LARGE' });
    expect(await requestCount('echo')).toBe(before);
  });

  it('a body that is not JSON at all (another media type) → 415', async () => {
    const res = await fetch(`${c.url}/queue/test/echo`, {
      method: 'POST',
      body: 'name=Ada',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
    });
    expect(res.status).toBe(415);
    expect(await res.json()).toMatchObject({ code: 'GANTRY_ERR_UNSUPPORTED_MEDIA_TYPE' });
  });

  it('unknown request id → 404 on status, result and cancel', async () => {
    for (const [method, path] of [
      ['GET', '/status'],
      ['GET', ''],
      ['PUT', '/cancel'],
    ] as const) {
      const res = await fetch(
        `${c.url}/queue/test/echo/requests/00000000-0000-0000-0000-000000000000${path}`,
        {
          method,
        },
      );
      expect(res.status).toBe(404);
      expect(await res.json()).toMatchObject({ code: 'GANTRY_ERR_REQUEST_NOT_FOUND' });
    }
  });

  it('a request id of another app is not found through this one', async () => {
    const sub = (await (await post('/queue/test/echo', '{}')).json()) as { request_id: string };
    const res = await fetch(`${c.url}/queue/test/vault/requests/${sub.request_id}/status`, {
      headers: { authorization: `Key ${c.adminKey}` },
    });
    expect(res.status).toBe(404);
  });

  it('bad fal headers → 400 naming the header', async () => {
    const res = await post('/queue/test/echo', '{}', { 'x-fal-queue-priority': 'urgent' });
    expect(res.status).toBe(400);
    expect(await res.json()).toMatchObject({
      code: 'GANTRY_ERR_VALIDATION',
      message: expect.stringMatching(/x-fal-queue-priority/),
    });
    const res2 = await post('/queue/test/echo', '{}', { 'x-fal-request-timeout': 'soon' });
    expect(res2.status).toBe(400);
  });

  it('a result asked for too early → 400 GANTRY_ERR_REQUEST_NOT_COMPLETED', async () => {
    const sub = (await (await post('/queue/test/echo', '{}')).json()) as {
      request_id: string;
      status_url: string;
    };
    expect(sub.status_url).toBe(`${c.url}/queue/test/echo/requests/${sub.request_id}/status`);
    const res = await fetch(`${c.url}/queue/test/echo/requests/${sub.request_id}`);
    expect(res.status).toBe(400);
    expect(await res.json()).toMatchObject({ code: 'GANTRY_ERR_REQUEST_NOT_COMPLETED' });
  });

  it('a private app without a key → 404 as if it did not exist; with the admin key it is accepted', async () => {
    const res = await post('/queue/test/vault', '{}');
    expect(res.status).toBe(404);
    expect(await res.json()).toMatchObject({ code: 'GANTRY_ERR_APP_NOT_FOUND' });
    const wrong = await post('/queue/test/vault', '{}', { authorization: 'Key not-a-key' });
    expect(wrong.status).toBe(404);
    const ok = await post('/queue/test/vault', '{}', { authorization: `Key ${c.adminKey}` });
    expect(ok.status).toBe(200);
  });

  it('the proxy without a usable target → 400 GANTRY_ERR_BAD_PROXY_TARGET', async () => {
    const none = await post('/fal/proxy', '{}');
    expect(none.status).toBe(400);
    expect(await none.json()).toMatchObject({ code: 'GANTRY_ERR_BAD_PROXY_TARGET' });
    const evil = await post('/fal/proxy', '{}', { 'x-fal-target-url': 'https://evil.example.com/steal' });
    expect(evil.status).toBe(400);
  });

  it('NUL characters, spaces in paths and malformed escapes get clear 4xx answers, never a 500', async () => {
    const before = await requestCount('echo');
    const nul = await post('/queue/test/echo', JSON.stringify({ name: 'a\u0000b' }));
    expect(nul.status).toBe(400);
    expect(await nul.json()).toMatchObject({
      code: 'GANTRY_ERR_BAD_JSON',
      message: expect.stringMatching(/NUL/),
    });
    const spaced = await post('/queue/test/echo/a%20b', '{}');
    expect(spaced.status).toBe(400);
    expect(await spaced.json()).toMatchObject({ code: 'GANTRY_ERR_VALIDATION' });
    expect(await requestCount('echo')).toBe(before);
    // A NUL anywhere in the URL is refused before routing, whatever parameter it lands in.
    const owner = await post('/queue/te%00st/echo', '{}');
    expect(owner.status).toBe(400);
    expect(await owner.json()).toMatchObject({
      code: 'GANTRY_ERR_VALIDATION',
      message: expect.stringMatching(/NUL/),
    });
    const rid = await fetch(`${c.url}/queue/test/echo/requests/ab%00cd/status`);
    expect(rid.status).toBe(400);
    expect(await rid.json()).toMatchObject({ code: 'GANTRY_ERR_VALIDATION' });
    const proxy = await post('/fal/proxy', '{}', {
      'x-fal-target-url': 'https://queue.fal.run/test/%E0%A4%A',
    });
    expect(proxy.status).toBe(400);
    expect(await proxy.json()).toMatchObject({ code: 'GANTRY_ERR_BAD_PROXY_TARGET' });
  });

  it('a malformed URL answers in the catalogue shape', async () => {
    const res = await fetch(`${c.url}/queue/test/echo/requests/%E0%A4%A/status`);
    expect(res.status).toBe(400);
    expect(await res.json()).toMatchObject({ code: 'GANTRY_ERR_VALIDATION' });
  });

  it('an unknown route → 404 GANTRY_ERR_ROUTE_NOT_FOUND', async () => {
    const res = await fetch(`${c.url}/nothing/here`);
    expect(res.status).toBe(404);
    expect(await res.json()).toMatchObject({ code: 'GANTRY_ERR_ROUTE_NOT_FOUND' });
  });
});

describe('bad input on the management API', () => {
  it('percent-encoding the path does not get around the admin key', async () => {
    for (const path of ['/%761/apps', '/v%31/apps', '/%76%31/apps', '/V1/apps']) {
      const res = await fetch(`${c.url}${path}`);
      expect([401, 404], path).toContain(res.status);
      expect(JSON.stringify(await res.json()), path).not.toContain('"apps"');
    }
    const mint = await fetch(`${c.url}/%761/apps`, {
      method: 'POST',
      body: JSON.stringify({ owner: 'evil', name: 'x' }),
      headers: { 'content-type': 'application/json' },
    });
    expect(mint.status).toBe(401);
    const apps = (await (await c.admin('/v1/apps')).json()) as { apps: { owner: string }[] };
    expect(apps.apps.map((a) => a.owner)).not.toContain('evil');
  });

  it('missing or wrong admin key → 401 on management routes', async () => {
    const none = await fetch(`${c.url}/v1/apps`);
    expect(none.status).toBe(401);
    expect(await none.json()).toMatchObject({ code: 'GANTRY_ERR_UNAUTHORIZED' });
    const wrong = await fetch(`${c.url}/v1/apps`, { headers: { authorization: 'Key gk_admin_wrong' } });
    expect(wrong.status).toBe(401);
    const create = await fetch(`${c.url}/v1/apps`, {
      method: 'POST',
      body: JSON.stringify({ owner: 'x', name: 'y' }),
      headers: { 'content-type': 'application/json' },
    });
    expect(create.status).toBe(401);
    const apps = (await (await c.admin('/v1/apps')).json()) as { apps: { name: string }[] };
    expect(apps.apps.map((a) => a.name)).not.toContain('y');
  });

  it('invalid scaling values → 400 naming the field and the allowed range; nothing changes', async () => {
    const path = '/v1/apps/test/echo/environments/production/scaling';
    const before = await (await c.admin(path)).json();
    const res = await c.admin(path, { method: 'PATCH', body: { keep_alive: 30, max_concurrency: 0 } });
    expect(res.status).toBe(400);
    expect(await res.json()).toMatchObject({
      code: 'GANTRY_ERR_INVALID_SETTING',
      field: 'max_concurrency',
      min: 1,
      max: 1000,
      message: expect.stringMatching(/max_concurrency must be a number from 1 to 1000/),
    });
    expect(await (await c.admin(path)).json()).toEqual(before);
    const ok = await c.admin(path, { method: 'PATCH', body: { keep_alive: 30 } });
    expect(((await ok.json()) as { keep_alive: number }).keep_alive).toBe(30);
  });

  it('invalid app names and duplicate apps are refused without a trace', async () => {
    const bad = await c.admin('/v1/apps', { body: { owner: 'test', name: 'Bad--Name' } });
    expect(bad.status).toBe(400);
    expect(await bad.json()).toMatchObject({ code: 'GANTRY_ERR_VALIDATION' });
    const dup = await c.admin('/v1/apps', { body: { owner: 'test', name: 'echo' } });
    expect(dup.status).toBe(409);
    expect(await dup.json()).toMatchObject({ code: 'GANTRY_ERR_APP_EXISTS' });
    const apps = (await (await c.admin('/v1/apps')).json()) as { apps: { name: string }[] };
    expect(apps.apps.map((a) => a.name).sort()).toEqual(['echo', 'vault']);
  });

  it('a revision with invalid settings is refused and no revision is created', async () => {
    const path = '/v1/apps/test/echo/environments/production/revisions';
    const before = ((await (await c.admin(path)).json()) as { revisions: unknown[] }).revisions.length;
    const res = await c.admin(path, { body: { command: ['true'], settings: { max_multiplexing: 0 } } });
    expect(res.status).toBe(400);
    expect(await res.json()).toMatchObject({ code: 'GANTRY_ERR_INVALID_SETTING', field: 'max_multiplexing' });
    const none = await c.admin(path, { body: { settings: {} } });
    expect(none.status).toBe(400);
    expect(((await (await c.admin(path)).json()) as { revisions: unknown[] }).revisions).toHaveLength(before);
  });

  it('validation at the door: unknown machine_type, a command without cwd, both command and image → 400, nothing recorded', async () => {
    const path = '/v1/apps/test/echo/environments/production/revisions';
    const count = async () =>
      ((await (await c.admin(path)).json()) as { revisions: unknown[] }).revisions.length;
    const before = await count();
    const gpu = await c.admin(path, {
      body: { command: ['true'], cwd: REPO_ROOT, settings: { machine_type: 'GPU-B200' } },
    });
    expect(gpu.status).toBe(400);
    expect(await gpu.json()).toMatchObject({
      code: 'GANTRY_ERR_INVALID_SETTING',
      field: 'machine_type',
      allowed: expect.arrayContaining(['CPU', 'GPU-A10G']),
    });
    for (const cwd of [undefined, 'relative/folder', '/no/such/folder/anywhere']) {
      const res = await c.admin(path, { body: { command: ['true'], ...(cwd ? { cwd } : {}) } });
      expect(res.status).toBe(400);
      expect(await res.json()).toMatchObject({ code: 'GANTRY_ERR_VALIDATION', field: 'cwd' });
    }
    const both = await c.admin(path, { body: { command: ['true'], cwd: REPO_ROOT, image: 'x@sha256:0' } });
    expect(both.status).toBe(400);
    expect(await count()).toBe(before);
  });

  it('registering a revision never activates it unless the call asks', async () => {
    const path = '/v1/apps/test/echo/environments/production/revisions';
    const activeBefore = (
      (await (await c.admin(path)).json()) as { revisions: { number: number; active: boolean }[] }
    ).revisions.find((r) => r.active)?.number;
    const res = await c.admin(path, {
      body: { command: HELLO_COMMAND, cwd: REPO_ROOT, message: 'recorded only' },
    });
    expect(res.status).toBe(201);
    const rev = (await res.json()) as { number: number; active: boolean };
    expect(rev.active).toBe(false);
    const after = (
      (await (await c.admin(path)).json()) as { revisions: { number: number; active: boolean }[] }
    ).revisions;
    expect(after.find((r) => r.active)?.number).toBe(activeBefore);
    const rollouts = (await (await c.admin(`${path.replace('/revisions', '/rollouts')}`)).json()) as {
      rollouts: { to_revision: number }[];
    };
    expect(rollouts.rollouts.map((r) => r.to_revision)).not.toContain(rev.number);
  });

  it('unknown revision → 404 listing the revisions there are', async () => {
    const res = await c.admin('/v1/apps/test/echo/environments/production/active-revision', {
      method: 'PUT',
      body: { revision: 99 },
    });
    expect(res.status).toBe(404);
    expect(await res.json()).toMatchObject({
      code: 'GANTRY_ERR_REVISION_NOT_FOUND',
      message: expect.stringMatching(/has no revision 99 \(it has: (\d+, )*1\)/),
    });
  });

  it('an app with nothing deployed answers 409 to submits', async () => {
    await c.admin('/v1/apps', { body: { owner: 'test', name: 'empty', auth_mode: 'public' } });
    const res = await post('/queue/test/empty', '{}');
    expect(res.status).toBe(409);
    expect(await res.json()).toMatchObject({ code: 'GANTRY_ERR_NO_ACTIVE_REVISION' });
    expect(await requestCount('empty')).toBe(0);
    expect((await c.admin('/v1/apps/test/empty', { method: 'DELETE' })).status).toBe(204);
    expect((await c.admin('/v1/apps/test/empty')).status).toBe(404);
  });

  it('the OpenAPI document lists the fal and management routes', async () => {
    const doc = (await (await fetch(`${c.url}/openapi.json`)).json()) as {
      openapi: string;
      paths: Record<string, unknown>;
    };
    expect(doc.openapi).toMatch(/^3\./);
    for (const p of [
      '/queue/{owner}/{app}',
      '/queue/{owner}/{app}/requests/{request_id}/status',
      '/queue/{owner}/{app}/requests/{request_id}/status/stream',
      '/run/{owner}/{app}',
      '/fal/proxy',
      '/v1/apps',
      '/v1/apps/{owner}/{name}/environments/{env}/scaling',
    ]) {
      expect(Object.keys(doc.paths), p).toContain(p);
    }
  });
});
