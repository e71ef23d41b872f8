/**
 * A real control service for route-level tests: PGlite, the embedded queue unless the test brings
 * another, the HTTP routes, and a compute driver that starts nothing, so the test plays the runners
 * itself through the runner protocol with the specs it records.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { PgliteClient } from '../../../sql/src/pglite-client.ts';
import { buildApp, type ControlService } from '../app.ts';
import { hashKey } from '../auth.ts';
import type { ComputeDriver, RunnerExit, RunnerSpec } from '../compute/compute-driver.ts';
import { loadConfig } from '../config.ts';
import type { QueueDriver } from '../queue/queue-driver.ts';
import { StoreQueue } from '../queue/store-queue.ts';
import { Store } from '../store/store.ts';

/** Records the runners control asks for and runs none; `exit` plays one ending. */
export class RecordingCompute implements ComputeDriver {
  readonly started: RunnerSpec[] = [];
  private listener: ((e: RunnerExit) => void) | undefined;
  async start(spec: RunnerSpec): Promise<void> {
    this.started.push(spec);
  }
  async stop(): Promise<void> {}
  async kill(): Promise<void> {}
  onExit(listener: (e: RunnerExit) => void): void {
    this.listener = listener;
  }
  exit(runnerId: string, code = 1): void {
    this.listener?.({ runnerId, code, signal: null, tail: [] });
  }
  async close(): Promise<void> {}
}

export interface ControlFixtureOptions {
  /** Control's settings, as environment variables; the log is silent unless set. */
  settings?: Record<string, string>;
  /** The queue driver; the embedded one over the same database by default. */
  queue?: QueueDriver;
  clock?: () => number;
}

export interface ControlFixture {
  svc: ControlService;
  /** A folder a command revision may name (the recording driver runs nothing from it). */
  appDir: string;
  store: Store;
  compute: RecordingCompute;
  /** An admin key, and the headers that present it. */
  key: string;
  admin: { authorization: string };
  /** Makes app `t/<name>` with an active command revision in production. */
  addApp(name: string, authMode?: 'public' | 'private' | 'shared'): Promise<void>;
  /** Calls a runner route as the runner `spec` names, with its own token. */
  asRunner(
    spec: RunnerSpec,
    route: string,
    payload: unknown,
  ): Promise<{ status: number; body: Record<string, unknown> }>;
  close(): Promise<void>;
}

/** A revision's folder: the recording driver runs nothing from it, but a revision must name one. */
let appDir: string | undefined;

export async function startControl(o: ControlFixtureOptions = {}): Promise<ControlFixture> {
  appDir ??= mkdtempSync(path.join(tmpdir(), 'gantry-app-'));
  const db = await PgliteClient.open(undefined);
  const store = new Store(db, o.clock);
  await store.migrate();
  const key = 'gk_admin_fixture';
  await store.keys.put('admin', hashKey(key), 'ADMIN', 'test');
  const compute = new RecordingCompute();
  const svc = await buildApp({
    config: loadConfig({ GANTRY_LOG_LEVEL: 'silent', ...o.settings }),
    store,
    queue: o.queue ?? new StoreQueue(db, o.clock),
    compute,
    ...(o.clock ? { clock: o.clock } : {}),
  });
  const admin = { authorization: `Key ${key}` };
  const post = async (url: string, payload: Record<string, unknown>) => {
    const res = await svc.app.inject({ method: 'POST', url, headers: admin, payload });
    if (res.statusCode >= 300) throw new Error(`POST ${url} answered ${res.statusCode}: ${res.body}`);
  };
  return {
    svc,
    appDir,
    store,
    compute,
    key,
    admin,
    async addApp(name, authMode = 'public') {
      await post('/v1/apps', { owner: 't', name, auth_mode: authMode });
      await post(`/v1/apps/t/${name}/environments/production/revisions`, {
        command: ['app'],
        cwd: appDir,
        activate: true,
        strategy: 'recreate',
      });
    },
    async asRunner(spec, route, payload) {
      const res = await svc.app.inject({
        method: 'POST',
        url: `/internal/v1/runners/${spec.runnerId}/${route}`,
        headers: { authorization: `Bearer ${spec.token}`, 'content-type': 'application/json' },
        payload: typeof payload === 'string' ? payload : JSON.stringify(payload),
      });
      return { status: res.statusCode, body: res.body ? (res.json() as Record<string, unknown>) : {} };
    },
    close: () => svc.close(),
  };
}
