/**
 * The control service built in-process for `app.inject()` tests: PGlite in memory, the embedded
 * queue, and a compute driver that records every runner spec instead of starting processes.
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { FastifyServerOptions } from 'fastify';
import type { ControlExtension } from '../../contract/src/extension.ts';
import type { ComputeDriver, RunnerSpec } from '../../control/index.ts';
import {
  buildApp,
  type ControlService,
  ensureAdminKey,
  loadConfig,
  Store,
  StoreQueue,
} from '../../control/index.ts';
import { PgliteClient } from '../../sql/src/pglite-client.ts';

/** Records starts; the start then fails, so no runner ever runs and requests stay queued. */
export class RecordingCompute implements ComputeDriver {
  readonly specs: RunnerSpec[] = [];
  async start(spec: RunnerSpec): Promise<void> {
    this.specs.push(spec);
    throw new Error('recording compute starts nothing');
  }
  async stop(): Promise<void> {}
  async kill(): Promise<void> {}
  onExit(): void {}
  async close(): Promise<void> {}
}

export interface InjectedControl {
  service: ControlService;
  store: Store;
  compute: RecordingCompute;
  adminKey: string;
  dataDir: string;
  close(): Promise<void>;
}

export async function startInjectedControl(
  opts: {
    env?: Record<string, string>;
    logger?: FastifyServerOptions['logger'];
    extensions?: ControlExtension[];
  } = {},
): Promise<InjectedControl> {
  const dataDir = await mkdtemp(path.join(tmpdir(), 'gantry-inject-'));
  const config = loadConfig({
    GANTRY_DATA_DIR: dataDir,
    GANTRY_LOG_LEVEL: process.env.GANTRY_TEST_LOG ? 'debug' : 'silent',
    ...opts.env,
  });
  const db = await PgliteClient.open(undefined);
  const store = new Store(db);
  await store.migrate();
  const compute = new RecordingCompute();
  const service = await buildApp({
    config,
    store,
    queue: new StoreQueue(db),
    compute,
    // One failed start per environment, then a long backoff: no retry storm in the log.
    backoffStepMs: 60_000,
    ...(opts.logger !== undefined ? { logger: opts.logger } : {}),
    ...(opts.extensions ? { extensions: opts.extensions } : {}),
  });
  const adminKey = `gk_admin_${randomBytes(12).toString('hex')}`;
  await ensureAdminKey(store, dataDir, adminKey);
  return {
    service,
    store,
    compute,
    adminKey,
    dataDir,
    async close() {
      await service.close();
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}
