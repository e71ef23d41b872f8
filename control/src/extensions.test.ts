/** What control hands an extension, seen from the extension: routes, admin access, SQL, hooks. */
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { GantryError } from '../../contract/src/errors.ts';
import type { ControlExtension, ExtensionHost, RegisteredBuild } from '../../contract/src/extension.ts';
import {
  type InjectedControl,
  RecordingCompute,
  startInjectedControl,
} from '../../test/support/injected-control.ts';
import { buildApp } from './app.ts';
import { loadConfig } from './config.ts';
import { StoreQueue } from './queue/store-queue.ts';

describe('an extension mounted in control', () => {
  let control: InjectedControl;
  let host: ExtensionHost;
  const builds: RegisteredBuild[] = [];
  const closed: number[] = [];

  const extension: ControlExtension = {
    name: 'probe',
    prefix: '/api/probe',
    async mount(h) {
      host = h;
      await h.sql.exec('CREATE TABLE IF NOT EXISTS probe_notes (note text NOT NULL)');
      h.routes.get('/hello', async () => ({ hello: 'world' }));
      h.routes.get('/broken', async () => {
        throw new GantryError('GANTRY_ERR_VALIDATION', 'the probe refuses');
      });
      return {
        async buildRegistered(build) {
          builds.push(build);
        },
        async close() {
          // The store is still open while extensions close.
          const r = await h.sql.query<{ n: number }>('SELECT COUNT(*)::int AS n FROM probe_notes');
          closed.push(r.rows[0]!.n);
        },
      };
    },
  };

  beforeAll(async () => {
    control = await startInjectedControl({ extensions: [extension] });
  });
  let open = true;
  afterAll(async () => {
    if (open) await control?.close();
  });

  it('serves its routes under its prefix, with control’s error shape', async () => {
    const ok = await control.service.app.inject({ method: 'GET', url: '/api/probe/hello' });
    expect(ok.json()).toEqual({ hello: 'world' });
    const bad = await control.service.app.inject({ method: 'GET', url: '/api/probe/broken' });
    expect(bad.statusCode).toBe(400);
    expect(bad.json()).toMatchObject({ code: 'GANTRY_ERR_VALIDATION', message: 'the probe refuses' });
    expect((await control.service.app.inject({ method: 'GET', url: '/hello' })).statusCode).toBe(404);
  });

  it('calls the management API in process with its own admin key', async () => {
    const created = await host.admin.fetch(`${host.admin.url}/v1/apps`, {
      method: 'POST',
      headers: { authorization: `Key ${host.admin.key}`, 'content-type': 'application/json' },
      body: JSON.stringify({ owner: 'acme', name: 'probe', auth_mode: 'private' }),
    });
    expect(created.status).toBe(201);
    const forged = await host.admin.fetch(`${host.admin.url}/v1/apps`, {
      headers: { authorization: `Key ${host.admin.key}x` },
    });
    expect(forged.status).toBe(401);
    expect(host.admin.key).not.toBe(control.adminKey);
  });

  it('hears of each newly registered build', async () => {
    const digest = `sha256:${'ab'.repeat(32)}`;
    const res = await control.service.app.inject({
      method: 'POST',
      url: '/v1/builds',
      headers: { authorization: `Key ${control.adminKey}` },
      payload: {
        repository: 'acme/probe',
        commit_sha: 'a'.repeat(40),
        ref: 'refs/heads/main',
        image: `reg.example.com/probe@${digest}`,
        digest,
      },
    });
    expect(res.statusCode).toBe(201);
    await vi.waitFor(() => expect(builds.map((b) => b.commit_sha)).toEqual(['a'.repeat(40)]));
  });

  it('a second control process on the same database mounts a key of its own and leaves this one’s working', async () => {
    let second: ExtensionHost | undefined;
    const replica = await buildApp({
      config: loadConfig({ GANTRY_DATA_DIR: control.dataDir, GANTRY_LOG_LEVEL: 'silent' }),
      store: control.store,
      queue: new StoreQueue(control.store.db),
      compute: new RecordingCompute(),
      extensions: [
        {
          name: 'probe',
          prefix: '/api/probe',
          async mount(h) {
            second = h;
            return {};
          },
        },
      ],
    });
    try {
      const list = (h: ExtensionHost) =>
        h.admin.fetch(`${h.admin.url}/v1/apps`, { headers: { authorization: `Key ${h.admin.key}` } });
      expect(second!.admin.key).not.toBe(host.admin.key);
      expect((await list(host)).status).toBe(200);
      expect((await list(second!)).status).toBe(200);
    } finally {
      await replica.app.close();
    }
  });

  it('writes its own tables through the SQL handle and closes before the store', async () => {
    await host.sql.query('INSERT INTO probe_notes (note) VALUES ($1)', ['kept']);
    open = false;
    await control.close();
    expect(closed).toEqual([1]);
  });
});
