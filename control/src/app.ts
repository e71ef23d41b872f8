/**
 * Builds the control service without listening: tests call `app.inject()` on the result with the
 * same real drivers production uses. server.ts listens.
 */
import path from 'node:path';
import swagger from '@fastify/swagger';
import Fastify, {
  type FastifyBaseLogger,
  type FastifyInstance,
  type FastifyReply,
  type FastifyRequest,
  type FastifyServerOptions,
  LogController,
} from 'fastify';
import { GantryError } from '../../contract/src/errors.ts';
import type { ControlExtension } from '../../contract/src/extension.ts';
import type { ComputeDriver } from './compute/compute-driver.ts';
import type { Config } from './config.ts';
import { registerConsoleRoutes } from './console/console-routes.ts';
import { Deployments } from './deployments.ts';
import { Activity } from './events/activity.ts';
import { EventLog } from './events/event-log.ts';
import { mountExtensions } from './extensions.ts';
import { filesRoutes } from './files/files-routes.ts';
import { FilesService } from './files/files-service.ts';
import { openFiles } from './files/open-files.ts';
import { frameworkErrors, registerErrorHandling } from './http-errors.ts';
import { parseCallerJson } from './json-body.ts';
import { replaceUnstorable } from './json-nul.ts';
import { KeyRateLimiter } from './key-rate-limit.ts';
import { ControlMetrics } from './metrics/control-metrics.ts';
import { registerMetricsRoutes } from './metrics/metrics-routes.ts';
import { OidcVerifier } from './oidc-verifier.ts';
import { withQueueAccess } from './queue/queue-access-compute.ts';
import type { QueueDriver } from './queue/queue-driver.ts';
import { RequestService } from './request-service.ts';
import { RevisionSnapshots } from './revision-snapshots.ts';
import { createFalHandlers, keepRawJson, registerFalRoutes } from './routes/fal-api.ts';
import { registerFalProxy } from './routes/fal-proxy.ts';
import { registerRunnerRoutes } from './routes/runner-api.ts';
import { managementApi } from './routes/v1.ts';
import { AutoRollback } from './scaling/auto-rollback.ts';
import { Rollouts } from './scaling/rollouts.ts';
import { Scaler } from './scaling/scaler.ts';
import { EnvironmentSecrets } from './secrets/environment-secrets.ts';
import { openSecretBox } from './secrets/master-key.ts';
import type { SecretBox } from './secrets/secret-box.ts';
import type { SecretsManagerMirror } from './secrets/secrets-manager.ts';
import type { Store } from './store/store.ts';
import { EventRelays } from './streaming/event-relay.ts';
import { WebhookSender } from './webhooks/webhook-sender.ts';
import { loadWebhookSigner, type WebhookSigner } from './webhooks/webhook-signer.ts';

export interface BuildOptions {
  config: Config;
  store: Store;
  queue: QueueDriver;
  compute: ComputeDriver;
  logger?: FastifyServerOptions['logger'] | FastifyBaseLogger;
  clock?: () => number;
  /** Crash backoff step; tests shorten it. */
  backoffStepMs?: number;
  /** Verifies the OIDC tokens builds are registered with; default: the configured issuer's JWKS. */
  oidc?: OidcVerifier;
  /** Seals secrets; default: the master key from the settings (or `<data dir>/secrets.key`). */
  secretBox?: SecretBox;
  /** Where secrets are mirrored for runners that take them by reference (ECS: Secrets Manager). */
  secretsMirror?: SecretsManagerMirror;
  /** Add-ons control serves (the GitHub App); the process entry composes them. */
  extensions?: readonly ControlExtension[];
  /** Where files live; by default from the settings (the data folder, or S3). */
  files?: FilesService;
  /** Signs webhooks; by default from the setting or the data dir. */
  webhookSigner?: WebhookSigner;
  /** Prometheus metrics; server.ts makes them first so the store's statements are timed too. */
  metrics?: ControlMetrics;
}

export interface ControlService {
  app: FastifyInstance;
  scaler: Scaler;
  requests: RequestService;
  webhooks: WebhookSender;
  metrics: ControlMetrics;
  /** Events and metrics of what happened; `settle()` waits until all of it is recorded. */
  activity: Activity;
  files: FilesService;
  /** Automatic rollback of fresh revisions that fail requests; checked on every tick once started. */
  autoRollback: AutoRollback;
  /** Runs the retention sweep now (it also runs on its own every few minutes once started). */
  sweepRetention(): Promise<void>;
  /** Starts the steady background work: the scaler's tick, the start-deadline reaper, webhooks. */
  start(): void;
  /** Where runners reach control; set once the server listens. */
  setControlUrl(url: string): void;
  /** Stops scaling, drains runners, closes the HTTP server, the queue and the store. */
  close(): Promise<void>;
}

/** The runner protocol's routes: bodies there are app output relayed by a runner. */
const RUNNER_PREFIX = '/internal/v1/runners/';
/** How long a request may wait for its SQS send to be confirmed before it counts as lost to a crash. */
const UNENQUEUED_AFTER_MS = 5 * 60_000;
/** How often events past their retention are dropped. */
const EVENT_PRUNE_MS = 60 * 60_000;
/** How often retention empties old requests and deletes old files (files expire by the hour) and idempotency keys. */
const RETENTION_SWEEP_MS = 10 * 60_000;

/**
 * fastify's line per HTTP call, at debug rather than info: a request crosses several calls (the
 * caller's, the runner's pull and result), and at the default level each would write lines on the
 * hot path. Failed calls are still logged as errors.
 */
class QuietRequestLog extends LogController {
  override incomingRequest(request: FastifyRequest): void {
    request.log.debug({ req: request }, 'incoming request');
  }
  override requestCompleted(
    error: Error | null | undefined,
    request: FastifyRequest,
    reply: FastifyReply,
  ): void {
    if (error) super.requestCompleted(error, request, reply);
    else reply.log.debug({ res: reply, responseTime: reply.elapsedTime }, 'request completed');
  }
}

export async function buildApp(o: BuildOptions): Promise<ControlService> {
  const { config, store, queue } = o;
  // With SQS, runners receive from their queues themselves; compute hands them the queue URLs.
  const compute = withQueueAccess(o.compute, queue, config.leaseSeconds);
  const loggerOpt =
    o.logger && typeof (o.logger as FastifyBaseLogger).child === 'function'
      ? { loggerInstance: o.logger as FastifyBaseLogger }
      : { logger: (o.logger as FastifyServerOptions['logger']) ?? { level: config.logLevel } };
  const app = Fastify({
    ...loggerOpt,
    bodyLimit: config.bodyLimit,
    // A caller that trickles its body would otherwise hold a connection and a parser for ever.
    // Only receiving counts: a long poll or an SSE stream, once its request is in, is not cut.
    // Node (20) reads it when the server is made, so it goes in `http` too: set later, it does nothing.
    requestTimeout: config.requestBodyTimeoutSeconds * 1000,
    http: {
      requestTimeout: config.requestBodyTimeoutSeconds * 1000,
      connectionsCheckingInterval: Math.min(30_000, config.requestBodyTimeoutSeconds * 250),
    },
    logController: new QuietRequestLog(),
    // Long polls and SSE streams hold requests open; let close() end them.
    forceCloseConnections: true,
    // Errors fastify raises before routing (a malformed URL, say) answer in the catalogue's shape.
    frameworkErrors,
    trustProxy: config.trustProxy,
    ajv: { customOptions: { removeAdditional: false, coerceTypes: 'array', allErrors: false } },
  });

  let controlUrl = config.controlUrl ?? `http://127.0.0.1:${config.port}`;
  const metrics = o.metrics ?? new ControlMetrics(o.clock ? { clock: o.clock } : {});
  metrics.readFrom(store.db);
  const events = new EventLog({ events: store.events, log: app.log });
  const activity = new Activity({ store, events, metrics, log: app.log });
  let scalerRef: Scaler | undefined;
  const secrets = new EnvironmentSecrets(
    store,
    o.secretBox ?? (await openSecretBox(config)),
    o.secretsMirror,
  );
  const signer = o.webhookSigner ?? (await loadWebhookSigner(config.dataDir, config.webhookPrivateKey));
  const webhooks = new WebhookSender({
    store,
    signer,
    log: app.log,
    allowPrivate: config.webhookAllowPrivate,
    ...(o.clock ? { clock: o.clock } : {}),
    onOutcome: (outcome) => activity.webhook(outcome),
  });
  const files = o.files ?? (await openFiles(config, o.clock ? { clock: o.clock } : {}));
  const relays = new EventRelays();
  // An environment's `retention` setting, else control's. Kept in memory so handing out a job costs
  // no statement: a change through this process is seen at once (the app lookups' version moves),
  // one through another control process within 10 s.
  const retentionSeen = new Map<string, { seconds: number; at: number; version: number }>();
  const envRetention = async (envId: string): Promise<number> => {
    const version = store.apps.lookups.version;
    const seen = retentionSeen.get(envId);
    if (seen && seen.version === version && performance.now() - seen.at < 10_000) return seen.seconds;
    const env = await store.apps.getEnvironmentById(envId);
    const own = (env?.scaling as { retention?: number } | undefined)?.retention;
    const seconds = own && own > 0 ? own : config.retention;
    if (retentionSeen.size > 10_000) retentionSeen.clear();
    retentionSeen.set(envId, { seconds, at: performance.now(), version });
    return seconds;
  };
  /** Where callers reach control: file URLs handed out must work from there. */
  const callerBase = () => config.publicUrl ?? controlUrl;
  const requests = new RequestService(store, queue, {
    leaseSeconds: config.leaseSeconds,
    // Apps reach control where their runner does; the file URLs they get back are the callers'.
    jobFilesUrl: async (envId, ttlS) =>
      files.outputUploadUrl(controlUrl, {
        scope: FilesService.envScope(envId),
        retentionS: await envRetention(envId),
        ttlS,
      }),
    ...(o.clock ? { clock: o.clock } : {}),
    onSubmitted: (envId) => scalerRef?.submitted(envId),
    // fal: an attempt past request_timeout is abandoned and its runner replaced (drained, so
    // whatever else it serves finishes; the scaler starts a fresh one).
    onAttemptTimedOut: (runnerId) => {
      scalerRef
        ?.drain(runnerId, 'an attempt ran past request_timeout')
        .catch((err: unknown) => app.log.error({ err, runner: runnerId }, 'drain failed'));
    },
    onCompleted: (rec) => {
      if (rec.webhook_url) webhooks.wake();
      activity.completed(rec);
    },
    onAttemptStarted: (rec) => activity.attemptStarted(rec),
    onRetried: (envId, errorType) => activity.retried(envId, errorType),
  });
  const scaler = new Scaler({
    store,
    compute,
    requests,
    controlUrl: () => controlUrl,
    log: app.log,
    tickMs: config.tickMs,
    deployGateMarginMs: config.deployGateMarginSeconds * 1000,
    ...(o.clock ? { clock: o.clock } : {}),
    ...(o.backoffStepMs !== undefined ? { backoffStepMs: o.backoffStepMs } : {}),
    secretEnv: (envId) => secrets.envFor(envId),
    ...(o.secretsMirror ? { secretRefs: (envId: string) => secrets.referencesFor(envId) } : {}),
    activity,
  });
  scalerRef = scaler;
  // After a rotation of the master key, move every value onto the new key; a value whose key is
  // gone is reported (by name only) and left as it is, so nothing is lost.
  await secrets.reseal().catch((err: Error) => app.log.warn(`secrets not re-sealed: ${err.message}`));

  // JSON bodies: empty means "no input"; anything unparsable is the caller's error, with our code.
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (req, body, done) => {
    const text = String(body);
    if (text.trim() === '') return done(null, undefined);
    try {
      // What a runner reports is its app's output: text Gantry cannot store is replaced, never
      // refused, or the request would run again and again because of what it printed.
      done(null, parseCallerJson(req.url.startsWith(RUNNER_PREFIX) ? replaceUnstorable(text) : text));
    } catch (err) {
      done(err as Error, undefined);
    }
  });

  // PostgreSQL's text cannot hold NUL: a NUL in a path parameter or query would reach a query and
  // fail there (a 500), on routes that need no key too. Refused at the door, for every route.
  app.addHook('onRequest', async (req) => {
    if (/%00/.test(req.url)) {
      throw new GantryError('GANTRY_ERR_VALIDATION', 'The URL contains a NUL character (%00).');
    }
  });

  registerErrorHandling(app, { bodyLimit: config.bodyLimit });

  await app.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      info: {
        title: 'Gantry control API',
        version: '1',
        description:
          "fal-compatible queue API, Gantry's management API (admin key) and the internal runner protocol.",
      },
      components: {
        securitySchemes: {
          key: { type: 'apiKey', in: 'header', name: 'Authorization', description: '`Key <key>`' },
        },
      },
    },
  });

  const fal = createFalHandlers({
    store,
    requests,
    files,
    relays,
    // Without GANTRY_PUBLIC_URL, the address control listens on: a Host header is the caller's to
    // choose, and reflecting it would hand other callers URLs that point wherever it says.
    publicUrl: () => config.publicUrl ?? controlUrl,
    syncTimeoutSeconds: config.syncTimeoutSeconds,
    webhookAllowPrivate: config.webhookAllowPrivate,
    rateLimiter: new KeyRateLimiter(o.clock ?? Date.now),
    ...(o.clock ? { clock: o.clock } : {}),
  });
  await app.register(async (scope) => {
    keepRawJson(scope);
    registerFalRoutes(scope, fal);
    registerFalProxy(scope, fal);
  });
  await app.register(filesRoutes, { files, baseUrl: callerBase });
  const rollouts = new Rollouts({ store, scaler, activity });
  const autoRollback = new AutoRollback({
    store,
    rollouts,
    activity,
    log: app.log,
    clock: o.clock ?? Date.now,
  });
  registerRunnerRoutes(app, { store, requests, scaler, activity, relays });
  // Registered before extensions mount: a replica revokes the extension keys of controls not alive.
  await store.controls.beat(scaler.controlId);
  // Extensions (the GitHub App) are served here and hear of every registered build at once.
  const extensions = await mountExtensions(app, o.extensions ?? [], {
    store,
    sql: store.db,
    clock: o.clock ?? Date.now,
    publicUrl: () => config.publicUrl ?? controlUrl,
    instance: scaler.controlId,
  });
  await app.register(
    managementApi({
      store,
      queue,
      scaler,
      rollouts,
      deployments: new Deployments({ store, queue, scaler, rollouts, activity, secrets }),
      snapshots: new RevisionSnapshots({
        root: path.join(config.dataDir, 'revisions'),
        maxBytes: config.snapshotMaxMb * 1_000_000,
        skipPaths: [config.dataDir],
      }),
      requests,
      secrets,
      activity,
      events,
      onRegistered: extensions.buildRegistered,
      oidc:
        o.oidc ??
        new OidcVerifier({
          issuer: config.oidcIssuer,
          audience: config.oidcAudience,
          ...(o.clock ? { clock: o.clock } : {}),
        }),
      buildRepositories: config.buildRepositories,
      buildRepositoriesInstalled: extensions.mayRegisterBuilds,
      ...(o.clock ? { clock: o.clock } : {}),
    }),
    { prefix: '/v1' },
  );
  registerMetricsRoutes(app, { store, metrics, token: config.metricsToken });
  registerConsoleRoutes(app, {
    store,
    secureCookies: config.publicUrl?.startsWith('https:') === true,
  });
  app.get('/openapi.json', { schema: { hide: true } }, async () => app.swagger());
  app.get(
    '/.well-known/jwks.json',
    { schema: { tags: ['webhooks'], summary: 'Public keys that verify webhook signatures (JWKS)' } },
    async () => signer.jwks(),
  );
  app.get('/healthz', { schema: { hide: true } }, async () => ({ ok: true }));

  await app.ready();
  let reaper: NodeJS.Timeout | undefined;
  let eventPrune: NodeJS.Timeout | undefined;
  let retention: NodeJS.Timeout | undefined;
  const sweepRetention = async () => {
    const requestsGone = await store.requests.expireRetained(config.retention);
    const filesGone = await files.sweep();
    const keysGone = await store.idempotency.pruneExpired();
    if (requestsGone + filesGone + keysGone > 0)
      app.log.info(
        { requests: requestsGone, files: filesGone, idempotencyKeys: keysGone },
        'retention sweep',
      );
  };
  return {
    app,
    scaler,
    requests,
    webhooks,
    metrics,
    activity,
    files,
    autoRollback,
    sweepRetention,
    start() {
      scaler.start();
      webhooks.start();
      // Start deadlines are enforced on their own clock, not only when a runner pulls: with no
      // runner (scaling, crash backoff) a request must still end at its x-fal-request-timeout.
      reaper = setInterval(() => {
        requests
          .expireStartDeadlines()
          .catch((err: unknown) => app.log.error({ err }, 'start-deadline reaper failed'));
        // SQS: a request and its message are two writes; a crash between them leaves a request
        // nothing will run. (The embedded queue writes both in one transaction.)
        if (!queue.sendInTransaction) {
          requests
            .reapUnenqueued(UNENQUEUED_AFTER_MS)
            .catch((err: unknown) => app.log.error({ err }, 'unenqueued-request reaper failed'));
        }
        autoRollback.check().catch((err: unknown) => app.log.error({ err }, 'automatic rollback failed'));
      }, config.tickMs);
      reaper.unref();
      eventPrune = setInterval(() => {
        const now = (o.clock ?? Date.now)();
        events.prune(now).catch((err: unknown) => app.log.error({ err }, 'pruning events failed'));
        store.audit
          .prune(now - config.auditRetentionDays * 86_400_000)
          .catch((err: unknown) => app.log.error({ err }, 'pruning the audit log failed'));
      }, EVENT_PRUNE_MS);
      eventPrune.unref();
      // Retention: requests' bodies and logs, and files, past their time.
      retention = setInterval(() => {
        sweepRetention().catch((err: unknown) => app.log.error({ err }, 'retention sweep failed'));
      }, RETENTION_SWEEP_MS);
      retention.unref();
    },
    setControlUrl(url: string) {
      controlUrl = url;
    },
    async close() {
      await extensions.close();
      clearInterval(reaper);
      clearInterval(eventPrune);
      clearInterval(retention);
      await webhooks.stop();
      // Another control is alive (a rolling upgrade, a replica): it adopts this one's runners, so
      // they keep serving; alone, control drains them as it always did.
      const handOver = await scaler.othersAlive().catch(() => false);
      scaler.stop();
      if (handOver && compute.release) await compute.release();
      else await compute.close();
      await scaler.settle();
      await scaler
        .leave()
        .catch((err: unknown) => app.log.warn({ err }, 'leaving the controls table failed'));
      await activity.settle();
      await app.close();
      await queue.close();
      await store.close();
    },
  };
}
