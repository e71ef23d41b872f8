/**
 * Secrets end to end inside control: sealed at rest (the stored bytes never hold the value), never
 * in an answer or a log line, given to runners of their own environment only.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type InjectedControl, startInjectedControl } from '../support/injected-control.ts';

/** A small folder for command revisions to snapshot. */
const APP_DIR = mkdtempSync(path.join(tmpdir(), 'gantry-app-'));

const VALUE = 'sk-live-7f3a9b2c-very-secret';
const OTHER = 'staging-only-value-41';

describe('secrets', () => {
  let c: InjectedControl;
  const logged: string[] = [];
  const call = (method: 'GET' | 'PUT' | 'POST' | 'DELETE', url: string, payload?: unknown) =>
    c.service.app.inject({
      method,
      url,
      headers: { authorization: `Key ${c.adminKey}` },
      ...(payload !== undefined ? { payload: payload as object } : {}),
    });
  const A = '/v1/apps/acme/echo';

  beforeAll(async () => {
    const stream = new Writable({
      write(chunk, _enc, done) {
        logged.push(String(chunk));
        done();
      },
    });
    // Every level, so a body or a value logged anywhere would show.
    c = await startInjectedControl({ logger: { level: 'trace', stream } });
    expect((await call('POST', '/v1/apps', { owner: 'acme', name: 'echo' })).statusCode).toBe(201);
    expect((await call('POST', `${A}/environments`, { name: 'staging' })).statusCode).toBe(201);
  });
  afterAll(async () => {
    await c.close();
  });

  it('stores only sealed values, lists names without values, and answers with a rollout hint', async () => {
    const set = await call('PUT', `${A}/environments/production/secrets`, {
      secrets: { API_TOKEN: VALUE, REGION: 'eu' },
    });
    expect(set.statusCode).toBe(200);
    expect(set.json()).toMatchObject({ environment: 'production', names: ['API_TOKEN', 'REGION'] });
    expect(set.json().hint).toMatch(/next runner|rollout/);
    expect(set.body).not.toContain(VALUE);
    expect(
      (await call('PUT', `${A}/environments/staging/secrets`, { secrets: { API_TOKEN: OTHER } })).statusCode,
    ).toBe(200);

    const rows = await c.store.db.query<Record<string, string>>('SELECT * FROM secrets');
    expect(rows.rows).toHaveLength(3);
    const raw = JSON.stringify(rows.rows);
    expect(raw).not.toContain(VALUE);
    expect(raw).not.toContain(OTHER);
    for (const r of rows.rows) {
      expect(Buffer.from(r.ciphertext!, 'base64').includes(Buffer.from('sk-live'))).toBe(false);
      expect(r.key_id).toMatch(/^k-[0-9a-f]{12}$/);
    }

    const list = await call('GET', `${A}/environments/production/secrets`);
    expect(list.json().secrets.map((s: { name: string }) => s.name)).toEqual(['API_TOKEN', 'REGION']);
    expect(Object.keys(list.json().secrets[0]).sort()).toEqual(['name', 'updated_at']);
    expect(list.body).not.toContain(VALUE);
  });

  it('gives a runner exactly its own environment’s secrets', async () => {
    for (const env of ['production', 'staging']) {
      const rev = await call('POST', `${A}/environments/${env}/revisions`, {
        command: ['node', 'app.js'],
        cwd: APP_DIR,
        activate: true,
        strategy: 'recreate',
      });
      expect(rev.statusCode).toBe(201);
    }
    // A request makes the scaler start a runner for each environment.
    await c.service.app.inject({
      method: 'POST',
      url: '/queue/acme/echo',
      payload: {},
      headers: { authorization: `Key ${c.adminKey}` },
    });
    await c.service.app.inject({
      method: 'POST',
      url: '/queue/acme/echo--staging',
      payload: {},
      headers: { authorization: `Key ${c.adminKey}` },
    });
    const deadline = Date.now() + 5000;
    while (new Set(c.compute.specs.map((s) => s.environmentId)).size < 2 && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 50));
    }
    const prodEnv = (await c.store.apps.getEnvironment(
      (await c.store.apps.get('acme', 'echo'))!.id,
      'production',
    ))!;
    const prod = c.compute.specs.find((s) => s.environmentId === prodEnv.id)!;
    const staging = c.compute.specs.find((s) => s.environmentId !== prodEnv.id)!;
    expect(prod.env).toEqual({ API_TOKEN: VALUE, REGION: 'eu' });
    expect(staging.env).toEqual({ API_TOKEN: OTHER });
  });

  it('refuses bad names without echoing values, and unsets by name, naming what exists', async () => {
    const bad = await call('PUT', `${A}/environments/production/secrets`, { secrets: { '1BAD': VALUE } });
    expect(bad.statusCode).toBe(400);
    expect(bad.body).not.toContain(VALUE);
    const reserved = await call('PUT', `${A}/environments/production/secrets`, {
      secrets: { GANTRY_X: VALUE },
    });
    expect(reserved.json().message).toMatch(/reserved/);
    const missing = await call('DELETE', `${A}/environments/staging/secrets/REGION`);
    expect(missing.statusCode).toBe(404);
    expect(missing.json()).toMatchObject({ code: 'GANTRY_ERR_SECRET_NOT_FOUND' });
    expect(missing.json().message).toMatch(/has no secret REGION \(it has: API_TOKEN\)/);
    const unset = await call('DELETE', `${A}/environments/production/secrets/REGION`);
    expect(unset.json().names).toEqual(['REGION']);
  });

  it('deletes an environment with its secrets, but never production on its own', async () => {
    expect((await call('DELETE', `${A}/environments/production`)).json().code).toBe(
      'GANTRY_ERR_ENVIRONMENT_PROTECTED',
    );
    expect((await call('DELETE', `${A}/environments/staging`)).statusCode).toBe(204);
    const rows = await c.store.db.query('SELECT name FROM secrets');
    expect(rows.rows).toEqual([{ name: 'API_TOKEN' }]);
    const gone = await call('GET', `${A}/environments/staging/secrets`);
    expect(gone.json().message).toMatch(/no environment "staging" \(it has: production\)/);
  });

  it('never wrote a value to the log', () => {
    expect(logged.length).toBeGreaterThan(0);
    const all = logged.join('');
    expect(all).not.toContain(VALUE);
    expect(all).not.toContain(OTHER);
  });
});
