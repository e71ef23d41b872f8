/**
 * Opens the store and drivers named by the configuration, builds the service and listens.
 * main.ts adds the start-up chores of `npm start`; tests use startServer directly.
 */
import { availableParallelism } from 'node:os';
import path from 'node:path';
import type { FastifyBaseLogger, FastifyServerOptions } from 'fastify';
import { PgClient } from '../../sql/src/pg-client.ts';
import { PgliteClient } from '../../sql/src/pglite-client.ts';
import type { SqlClient } from '../../sql/src/sql-client.ts';
import { createSqsClient } from '../../sqs/src/sqs-client.ts';
import { type BuildOptions, buildApp, type ControlService } from './app.ts';
import type { ComputeDriver } from './compute/compute-driver.ts';
import { openDockerCompute } from './compute/docker-compute.ts';
import { createEcsClient } from './compute/ecs-client.ts';
import { EcsCompute } from './compute/ecs-compute.ts';
import { ProcessCompute } from './compute/process-compute.ts';
import type { Config } from './config.ts';
import { ControlMetrics } from './metrics/control-metrics.ts';
import { TimedSqlClient } from './metrics/timed-sql-client.ts';
import { ensurePrivateDir } from './private-dir.ts';
import type { QueueDriver } from './queue/queue-driver.ts';
import { SqsQueue } from './queue/sqs-queue.ts';
import { StoreQueue } from './queue/store-queue.ts';
import { SecretsManagerMirror } from './secrets/secrets-manager.ts';
import { Store } from './store/store.ts';

export interface Started extends ControlService {
  url: string;
  store: Store;
  compute: ComputeDriver;
}

/** Opens the configured database: PostgreSQL when DATABASE_URL is set, else PGlite in the data dir. */
export async function openDatabase(config: Config, opts: { schema?: string } = {}): Promise<SqlClient> {
  if (config.databaseUrl) return PgClient.open(config.databaseUrl, opts);
  await ensurePrivateDir(config.dataDir);
  const pgdata = path.join(config.dataDir, 'pgdata');
  await ensurePrivateDir(pgdata);
  return PgliteClient.open(pgdata);
}

export async function startServer(
  config: Config,
  extra: {
    logger?: FastifyServerOptions['logger'] | FastifyBaseLogger;
    db?: SqlClient;
    backoffStepMs?: number;
    drainGraceSeconds?: number;
    extensions?: BuildOptions['extensions'];
    /** Wraps the driver the settings chose (tests: stand-ins around a real driver). */
    wrapCompute?: (driver: ComputeDriver) => ComputeDriver;
  } = {},
): Promise<Started> {
  // Keys live there whatever the database; it is made private before anything is written to it.
  await ensurePrivateDir(config.dataDir);
  const opened = extra.db ?? (await openDatabase(config));
  // Every statement the store runs is timed for /metrics (gantry_store_query_duration_seconds).
  const metrics = new ControlMetrics();
  const db = new TimedSqlClient(opened, metrics.observeQuery);
  const store = new Store(db);
  await store.migrate();
  const queue = openQueue(config, db);
  let log: FastifyBaseLogger | undefined;
  const ecsClient = config.compute === 'ecs' ? createEcsClient({ region: config.ecsRegion! }) : undefined;
  // On ECS, secrets go to Secrets Manager and tasks name them by ARN (secrets-manager.ts).
  const secretsMirror = ecsClient
    ? new SecretsManagerMirror({
        region: config.ecsRegion!,
        credentials: () => ecsClient.config.credentials(),
        prefix: config.ecsSecretPrefix,
        ...(config.secretsManagerEndpoint ? { endpoint: config.secretsManagerEndpoint } : {}),
      })
    : undefined;
  const compute: ComputeDriver =
    config.compute === 'docker'
      ? await openDockerCompute(config, {
          onLine: (runner, line) => log?.debug({ runner }, line),
          log: (msg, fields) => log?.warn(fields ?? {}, msg),
          ...(extra.drainGraceSeconds !== undefined ? { drainGraceSeconds: extra.drainGraceSeconds } : {}),
        })
      : ecsClient
        ? new EcsCompute({
            client: ecsClient,
            cluster: config.ecsCluster,
            subnets: config.ecsSubnets,
            securityGroups: config.ecsSecurityGroups,
            capacityProviders: config.ecsCapacityProviders,
            runnerImage: config.ecsRunnerImage!,
            logGroup: config.ecsLogGroup,
            logRouterImage: config.ecsLogRouterImage,
            region: config.ecsRegion!,
            executionRoleArn: config.ecsExecutionRoleArn!,
            ...(config.ecsTaskRoleArn ? { taskRoleArn: config.ecsTaskRoleArn } : {}),
            directQueueAccess: config.ecsRunnerQueue === 'direct',
            pollMs: config.ecsPollMs,
            ...(extra.drainGraceSeconds !== undefined ? { drainGraceSeconds: extra.drainGraceSeconds } : {}),
            log: (msg, fields) => log?.warn(fields ?? {}, msg),
          })
        : new ProcessCompute({
            onLine: (runner, line) => log?.debug({ runner }, line),
            maxRunners: config.processMaxRunners || availableParallelism() * 4,
            ...(extra.drainGraceSeconds !== undefined ? { drainGraceSeconds: extra.drainGraceSeconds } : {}),
          });
  const opts: BuildOptions = {
    config,
    store,
    queue,
    compute: extra.wrapCompute ? extra.wrapCompute(compute) : compute,
    metrics,
  };
  if (secretsMirror) opts.secretsMirror = secretsMirror;
  if (extra.logger !== undefined) opts.logger = extra.logger;
  if (extra.backoffStepMs !== undefined) opts.backoffStepMs = extra.backoffStepMs;
  if (extra.extensions) opts.extensions = extra.extensions;
  const service = await buildApp(opts);
  log = service.app.log;
  // On PostgreSQL, runners outlive control: those of a control that is gone (an earlier run of
  // this one, a replica that crashed) are adopted and keep serving; those of a live replica stay
  // its own. Nothing is drained because a control started. Runners that died with their control are
  // found by the scaler (lost: silent, and their control gone) and replaced.
  if (db.kind === 'postgres') {
    await service.scaler.beat();
  } else {
    // PGlite serves one process: runners left from its earlier run are no longer managed by
    // anyone (their exits went unheard); they are told to drain, as before control had replicas.
    for (const r of await store.runners.listLive()) {
      await store.runners.requestDrain(r.id);
      await store.runners.setState(r.id, 'TERMINATED', { detail: 'control restarted' });
    }
  }
  // Drivers whose runners outlive control (ECS tasks) find them again: a live runner record claims its task.
  await compute.reclaim?.(async (id) => {
    const r = await store.runners.get(id);
    return r !== undefined && r.ended_at === null;
  });
  const address = await service.app.listen({ port: config.port, host: config.host });
  const port = new URL(address).port;
  const url = `http://${config.host === '0.0.0.0' ? '127.0.0.1' : config.host}:${port}`;
  if (!config.controlUrl) service.setControlUrl(url);
  service.start();
  return { ...service, url, store, compute };
}

/**
 * The configured queue. SQS takes the standard AWS settings (AWS_REGION, the credentials chain,
 * AWS_ENDPOINT_URL_SQS) as the SDK reads them; sqs-retry.ts is its only retry policy.
 */
export function openQueue(config: Config, db: SqlClient): QueueDriver {
  if (config.queue === 'sqs') {
    return new SqsQueue({ client: createSqsClient(), prefix: config.sqsQueuePrefix });
  }
  return new StoreQueue(db);
}
