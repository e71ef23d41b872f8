/**
 * Builds the control service without listening: tests call `app.inject()` on the result with the
 * same real drivers production uses. server.ts listens.
 */
import swagger from '@fastify/swagger';
import Fastify, {
  type FastifyBaseLogger,
  type FastifyInstance,
  type FastifyReply,
  type FastifyServerOptions,
} from 'fastify';
import { GantryError } from '../../contract/src/errors.ts';
import type { ControlExtension } from '../../contract/src/extension.ts';
import type { ComputeDriver } from './compute/compute-driver.ts';
import type { Config } from './config.ts';
import { mountExtensions } from './extensions.ts';
import { filesRoutes } from './files/files-routes.ts';
import { FilesService } from './files/files-service.ts';
import { openFiles } from './files/open-files.ts';
import { hasEscapedNul } from './json-nul.ts';
import { OidcVerifier } from './oidc-verifier.ts';
import { withQueueAccess } from './queue/queue-access-compute.ts';
import type { QueueDriver } from './queue/queue-driver.ts';
import { RequestService } from './request-service.ts';
import { registerAuthModeRoutes } from './routes/auth-mode.ts';
import { registerBuildRoutes } from './routes/builds.ts';
import { registerEnvironmentRoutes } from './routes/environments.ts';
import { createFalHandlers, keepRawJson, registerFalRoutes } from './routes/fal-api.ts';
import { registerFalProxy } from './routes/fal-proxy.ts';
import { registerKeyRoutes } from './routes/keys.ts';
import { registerLogRoutes } from './routes/logs.ts';
import { registerManagementRoutes } from './routes/management.ts';
import { registerQueueAdminRoutes } from './routes/queue-admin.ts';
import { registerRolloutRoutes } from './routes/rollouts.ts';
import { registerRunnerActionRoutes } from './routes/runner-actions.ts';
import { registerRunnerRoutes } from './routes/runner-api.ts';
import { registerSecretRoutes } from './routes/secrets.ts';
import { Rollouts } from './scaling/rollouts.ts';
import { Scaler } from './scaling/scaler.ts';
import { EnvironmentSecrets } from './secrets/environment-secrets.ts';
import { openSecretBox } from './secrets/master-key.ts';
import type { SecretBox } from './secrets/secret-box.ts';
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
  /** Add-ons control serves (the GitHub App); the process entry composes them. */
  extensions?: readonly ControlExtension[];
  /** Where files live; by default from the settings (the data folder, or S3). */
  files?: FilesService;
  /** Signs webhooks; by default from the setting or the data dir. */
  webhookSigner?: WebhookSigner;
}

export interface ControlService {
  app: FastifyInstance;
  scaler: Scaler;
  requests: RequestService;
  webhooks: WebhookSender;
  files: FilesService;
  /** Runs the retention sweep now (it also runs on its own every few minutes once started). */
  sweepRetention(): Promise<void>;
  /** Starts the steady background work: the scaler's tick, the start-deadline reaper, webhooks. */
  start(): void;
  /** Where runners reach control; set once the server listens. */
  setControlUrl(url: string): void;
  /** Stops scaling, drains runners, closes the HTTP server, the queue and the store. */
  close(): Promise<void>;
}

/** How often retention empties old requests and deletes old files (files expire by the hour). */
const RETENTION_SWEEP_MS = 10 * 60_000;

/** Fastify's own error codes that a caller can cause, mapped onto the catalogue. */
const FASTIFY_CODES: Record<string, ConstructorParameters<typeof GantryError>[0]> = {
  FST_ERR_CTP_BODY_TOO_LARGE: 'GANTRY_ERR_PAYLOAD_TOO_LARGE',
  FST_ERR_CTP_INVALID_MEDIA_TYPE: 'GANTRY_ERR_UNSUPPORTED_MEDIA_TYPE',
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: 'GANTRY_ERR_VALIDATION',
  FST_ERR_CTP_EMPTY_JSON_BODY: 'GANTRY_ERR_BAD_JSON',
};

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
    // Long polls and SSE streams hold requests open; let close() end them.
    forceCloseConnections: true,
    // Errors fastify raises before routing (a malformed URL, say) answer in the catalogue's shape.
    frameworkErrors: (err, _req, reply) => {
      const e = new GantryError('GANTRY_ERR_VALIDATION', err.message);
      void (reply as unknown as FastifyReply).code(400).type('application/json').send(e.toBody());
    },
    ajv: { customOptions: { removeAdditional: false, coerceTypes: 'array', allErrors: false } },
  });

  let controlUrl = config.controlUrl ?? `http://127.0.0.1:${config.port}`;
  let scalerRef: Scaler | undefined;
  const secrets = new EnvironmentSecrets(store, o.secretBox ?? (await openSecretBox(config)));
  const signer = o.webhookSigner ?? (await loadWebhookSigner(config.dataDir, config.webhookPrivateKey));
  const webhooks = new WebhookSender({
    store,
    signer,
    log: app.log,
    allowPrivate: config.webhookAllowPrivate,
    ...(o.clock ? { clock: o.clock } : {}),
  });
  const files = o.files ?? (await openFiles(config, o.clock ? { clock: o.clock } : {}));
  const relays = new EventRelays();
  /** Where callers reach control: file URLs handed out must work from there. */
  const callerBase = () => config.publicUrl ?? controlUrl;
  const requests = new RequestService(store, queue, {
    leaseSeconds: config.leaseSeconds,
    // Apps reach control where their runner does; the file URLs they get back are the callers'.
    jobFilesUrl: (envId, ttlS) =>
      files.outputUploadUrl(controlUrl, {
        scope: FilesService.envScope(envId),
        retentionS: config.retention,
        ttlS,
      }),
    ...(o.clock ? { clock: o.clock } : {}),
    onSubmitted: (envId) => scalerRef?.submitted(envId),
    // fal: an attempt past request_timeout is abandoned and its runner replaced (drained, so
    // whatever else it serves finishes; the scaler starts a fresh one).
    onAttemptTimedOut: (runnerId) => {
      scalerRef
        ?.drain(runnerId)
        .catch((err: unknown) => app.log.error({ err, runner: runnerId }, 'drain failed'));
    },
    onCompleted: (rec) => {
      if (rec.webhook_url) webhooks.wake();
    },
  });
  const scaler = new Scaler({
    store,
    compute,
    requests,
    controlUrl: () => controlUrl,
    log: app.log,
    tickMs: config.tickMs,
    ...(o.clock ? { clock: o.clock } : {}),
    ...(o.backoffStepMs !== undefined ? { backoffStepMs: o.backoffStepMs } : {}),
    secretEnv: (envId) => secrets.envFor(envId),
  });
  scalerRef = scaler;
  // After a rotation of the master key, move every value onto the new key; a value whose key is
  // gone is reported (by name only) and left as it is, so nothing is lost.
  await secrets.reseal().catch((err: Error) => app.log.warn(`secrets not re-sealed: ${err.message}`));

  // JSON bodies: empty means "no input"; anything unparsable is the caller's error, with our code.
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (_req, body, done) => {
    const text = String(body);
    if (text.trim() === '') return done(null, undefined);
    if (hasEscapedNul(text)) {
      return done(
        new GantryError(
          'GANTRY_ERR_BAD_JSON',
          'The request body contains a NUL character (\\u0000), which Gantry cannot store.',
        ),
        undefined,
      );
    }
    try {
      done(null, JSON.parse(text));
    } catch (err) {
      done(
        new GantryError(
          'GANTRY_ERR_BAD_JSON',
          `The request body is not valid JSON: ${(err as Error).message}`,
        ),
        undefined,
      );
    }
  });

  app.setErrorHandler((err, req, reply) => {
    let e: GantryError;
    const fe = err as { code?: string; validation?: unknown; message: string; statusCode?: number };
    if (err instanceof GantryError) e = err;
    else if (fe.validation) e = new GantryError('GANTRY_ERR_VALIDATION', fe.message);
    else if (fe.code && FASTIFY_CODES[fe.code]) e = new GantryError(FASTIFY_CODES[fe.code]!);
    else if (fe.statusCode && fe.statusCode >= 400 && fe.statusCode < 500)
      e = new GantryError('GANTRY_ERR_VALIDATION', fe.message);
    else {
      req.log.error({ err }, 'unhandled error');
      e = new GantryError('GANTRY_ERR_INTERNAL');
    }
    if (e.statusCode === 413 && e.code === 'GANTRY_ERR_PAYLOAD_TOO_LARGE') {
      e = new GantryError(
        'GANTRY_ERR_PAYLOAD_TOO_LARGE',
        `The request body is larger than the limit of ${config.bodyLimit} bytes.`,
      );
    }
    return reply.code(e.statusCode).type('application/json').send(e.toBody());
  });
  app.setNotFoundHandler((req, reply) => {
    const e = new GantryError(
      'GANTRY_ERR_ROUTE_NOT_FOUND',
      `No route ${req.method} ${req.url.split('?')[0]}.`,
    );
    return reply.code(e.statusCode).send(e.toBody());
  });

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
    publicUrl: config.publicUrl,
    syncTimeoutSeconds: config.syncTimeoutSeconds,
    webhookAllowPrivate: config.webhookAllowPrivate,
  });
  await app.register(async (scope) => {
    keepRawJson(scope);
    registerFalRoutes(scope, fal);
    registerFalProxy(scope, fal);
  });
  await app.register(filesRoutes, { files, baseUrl: callerBase });
  const rollouts = new Rollouts({ store, scaler });
  registerManagementRoutes(app, { store, queue, scaler, rollouts, ...(o.clock ? { clock: o.clock } : {}) });
  registerRolloutRoutes(app, { store, rollouts });
  registerRunnerRoutes(app, { store, requests, scaler, relays });
  // Extensions (the GitHub App) are served here and hear of every registered build at once.
  const extensions = await mountExtensions(app, o.extensions ?? [], {
    store,
    sql: store.db,
    clock: o.clock ?? Date.now,
    publicUrl: () => config.publicUrl ?? controlUrl,
  });
  registerBuildRoutes(app, {
    store,
    onRegistered: extensions.buildRegistered,
    oidc:
      o.oidc ??
      new OidcVerifier({
        issuer: config.oidcIssuer,
        audience: config.oidcAudience,
        ...(o.clock ? { clock: o.clock } : {}),
      }),
  });
  registerEnvironmentRoutes(app, { store, queue, scaler });
  registerSecretRoutes(app, { store, secrets });
  registerKeyRoutes(app, { store });
  registerAuthModeRoutes(app, { store });
  registerRunnerActionRoutes(app, { store, scaler });
  registerLogRoutes(app, { store });
  registerQueueAdminRoutes(app, { store, requests, scaler });
  app.get('/openapi.json', { schema: { hide: true } }, async () => app.swagger());
  app.get(
    '/.well-known/jwks.json',
    { schema: { tags: ['webhooks'], summary: 'Public keys that verify webhook signatures (JWKS)' } },
    async () => signer.jwks(),
  );
  app.get('/healthz', { schema: { hide: true } }, async () => ({ ok: true }));

  await app.ready();
  let reaper: NodeJS.Timeout | undefined;
  let retention: NodeJS.Timeout | undefined;
  const sweepRetention = async () => {
    const requestsGone = await store.requests.expireRetained(config.retention);
    const filesGone = await files.sweep();
    if (requestsGone + filesGone > 0)
      app.log.info({ requests: requestsGone, files: filesGone }, 'retention sweep');
  };
  return {
    app,
    scaler,
    requests,
    webhooks,
    files,
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
      }, config.tickMs);
      reaper.unref();
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
      clearInterval(retention);
      await webhooks.stop();
      scaler.stop();
      await compute.close();
      await scaler.settle();
      await app.close();
      await queue.close();
      await store.close();
    },
  };
}
