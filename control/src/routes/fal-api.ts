/**
 * fal's queue API, path- and shape-compatible, so fal's client SDKs work unchanged: submit,
 * status (polled and streamed), result, cancel, and the synchronous /run. The handlers take a
 * normalised call so the client proxy route (/fal/proxy) reuses them as they are.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { Type } from 'typebox';
import { GantryError } from '../../../contract/src/errors.ts';
import { appNotFound, identify, requireAppAccess } from '../auth.ts';
import type { App, Caller, Environment, Priority, RequestRecord } from '../domain.ts';
import { FilesService } from '../files/files-service.ts';
import { pathToKey } from '../files/signed-url.ts';
import { parseCallerJson } from '../json-body.ts';
import type { KeyRateLimiter } from '../key-rate-limit.ts';
import type { RequestService } from '../request-service.ts';
import { activeCrashLoop, crashLoopMessage } from '../scaling/crash-loop.ts';
import { START_TIMEOUT_MESSAGE } from '../store/requests-store.ts';
import type { Store } from '../store/store.ts';
import type { EventRelays } from '../streaming/event-relay.ts';
import { checkWebhookUrl } from '../webhooks/webhook-url.ts';
import { type IdempotencyClaim, idempotencyKey, submitFingerprint, submitOnce } from './idempotent-submit.ts';

export interface FalDeps {
  store: Store;
  requests: RequestService;
  files: FilesService;
  relays: EventRelays;
  /** The base of response_url and friends: never taken from the request's Host header. */
  publicUrl: () => string;
  syncTimeoutSeconds: number;
  /** Accept fal_webhook URLs on loopback and private networks. */
  webhookAllowPrivate: boolean;
  /** Per-key submission limits; none when absent. */
  rateLimiter?: KeyRateLimiter;
  clock?: () => number;
}

/** One call of fal's API, however it arrived (direct route or the client proxy). */
export interface FalCall {
  owner: string;
  app: string;
  /** Endpoint path inside the app (submit and run), without a leading slash. */
  path: string;
  requestId?: string;
  query: Record<string, string | undefined>;
  headers: FastifyRequest['headers'];
  /** The body as sent (fal's routes keep the bytes; see falRawBody). */
  body: RawBody | undefined;
}

/** A JSON body as the caller sent it: the bytes are what the app receives and what is stored. */
export interface RawBody {
  bytes: Buffer;
  contentType: string;
}

/** The longest x-fal-runner-hint kept; hints are opaque strings such as a session or user id. */
const MAX_HINT_LENGTH = 256;

const DEFAULT_ENV = 'production';
/** Longest silence on a status stream: load balancers cut idle connections (ALB: 60 s). */
const SSE_KEEPALIVE_MS = 15_000;

/** `name--env` addresses a non-default environment, as DESIGN.md says. */
export function splitAppId(app: string): { name: string; env: string } {
  const i = app.indexOf('--');
  return i < 0 ? { name: app, env: DEFAULT_ENV } : { name: app.slice(0, i), env: app.slice(i + 2) };
}

export function createFalHandlers(d: FalDeps) {
  const base = (_req: FastifyRequest) => d.publicUrl();

  async function resolve(
    call: FalCall,
    req: FastifyRequest,
  ): Promise<{ app: App; env: Environment; caller: Caller | undefined }> {
    const { name, env: envName } = splitAppId(call.app);
    // Names are lower-case letters, digits and dashes (management.ts); anything else (NUL, spaces,
    // other scripts) cannot name an app, so it is not found without asking the database.
    const plausible = [call.owner, name, envName].every((s) => /^[a-z0-9][a-z0-9-]{0,62}$/.test(s));
    const found = plausible ? await d.store.apps.getWithEnvironment(call.owner, name, envName) : undefined;
    if (!found) throw appNotFound(call.owner, name);
    const { app, env } = found;
    const caller = await requireAppAccess(d.store, req, app, envName, d.clock?.());
    if (!env) {
      throw new GantryError(
        'GANTRY_ERR_ENVIRONMENT_NOT_FOUND',
        `${call.owner}/${name} has no environment ${envName}.`,
      );
    }
    return { app, env, caller };
  }

  async function findRequest(
    call: FalCall,
    req: FastifyRequest,
  ): Promise<{ rec: RequestRecord; env: Environment }> {
    const { env } = await resolve(call, req);
    const id = call.requestId;
    const rec = id && /^[0-9a-zA-Z-]{1,64}$/.test(id) ? await d.store.requests.get(id) : undefined;
    if (!rec || rec.environment_id !== env.id) {
      throw new GantryError(
        'GANTRY_ERR_REQUEST_NOT_FOUND',
        `No request ${call.requestId} for ${call.owner}/${call.app}.`,
      );
    }
    return { rec, env };
  }

  const urls = (req: FastifyRequest, call: FalCall, id: string) => {
    const root = `${base(req)}/queue/${call.owner}/${call.app}/requests/${id}`;
    return { response_url: root, status_url: `${root}/status`, cancel_url: `${root}/cancel` };
  };

  async function statusBody(req: FastifyRequest, call: FalCall, rec: RequestRecord, logs?: unknown[]) {
    const out: Record<string, unknown> = {
      status: rec.status,
      request_id: rec.id,
      ...urls(req, call, rec.id),
    };
    if (rec.status === 'IN_QUEUE') {
      out.queue_position = await d.store.requests.queuePosition(rec);
      // Why it may wait long: the revision it waits for keeps crashing before it is ready.
      const env = await d.store.apps.getEnvironmentById(rec.environment_id);
      const loop = env ? await activeCrashLoop(d.store, env) : undefined;
      if (loop) out.warning = crashLoopMessage(loop);
    }
    if (logs) out.logs = logs;
    if (rec.status === 'COMPLETED') {
      out.metrics = rec.inference_ms === null ? {} : { inference_time: rec.inference_ms / 1000 };
      if (rec.error) {
        out.error = rec.error;
        out.error_type = rec.error_type;
      }
    }
    return out;
  }

  const toFalLogs = (logs: Awaited<ReturnType<Store['logs']['forRequest']>>) =>
    logs.map((l) => ({ message: l.message, level: l.level, source: l.source, timestamp: l.timestamp }));

  function parseSubmitHeaders(call: FalCall) {
    const h = call.headers;
    const rawPriority = header(h, 'x-fal-queue-priority') ?? 'normal';
    if (rawPriority !== 'normal' && rawPriority !== 'low') {
      throw new GantryError('GANTRY_ERR_VALIDATION', 'x-fal-queue-priority must be "normal" or "low".');
    }
    const rawTimeout = header(h, 'x-fal-request-timeout');
    let startTimeoutSeconds: number | null = null;
    if (rawTimeout !== undefined) {
      startTimeoutSeconds = Number(rawTimeout);
      if (!Number.isFinite(startTimeoutSeconds) || startTimeoutSeconds <= 0) {
        throw new GantryError(
          'GANTRY_ERR_VALIDATION',
          'x-fal-request-timeout must be a positive number of seconds.',
        );
      }
    }
    const noRetry = ['1', 'true', 'yes'].includes((header(h, 'x-fal-no-retry') ?? '').toLowerCase());
    const rawMax = call.query.fal_max_queue_length;
    let maxQueueLength: number | null = null;
    if (rawMax !== undefined) {
      maxQueueLength = Number(rawMax);
      if (!Number.isInteger(maxQueueLength) || maxQueueLength < 0) {
        throw new GantryError(
          'GANTRY_ERR_VALIDATION',
          'fal_max_queue_length must be a whole number, 0 or more.',
        );
      }
    }
    return { priority: rawPriority as Priority, startTimeoutSeconds, noRetry, maxQueueLength };
  }

  /** `sync`: fal.run, which has no webhooks and, as on fal, no retries (errors come back at once). */
  async function submitCall(call: FalCall, req: FastifyRequest, sync: boolean) {
    const { env, caller } = await resolve(call, req);
    d.rateLimiter?.take(caller);
    // A first deploy still proving its revision (the deploy gate) takes requests: they wait for it.
    if (!env.active_revision_id && !(await d.store.rollouts.getOpen(env.id))) {
      throw new GantryError('GANTRY_ERR_NO_ACTIVE_REVISION');
    }
    // The path is forwarded to the app as a URL path: printable, no spaces or control characters.
    if (!/^[\x21-\x7e]*$/.test(call.path)) {
      throw new GantryError(
        'GANTRY_ERR_VALIDATION',
        `The endpoint path "${call.path.replace(/[^\x20-\x7e]/g, '?')}" has spaces or characters a URL path cannot carry.`,
      );
    }
    const parsed = parseSubmitHeaders(call);
    const opts = sync ? { ...parsed, noRetry: true } : parsed;
    let webhookUrl: string | null = null;
    const rawWebhook = call.query.fal_webhook;
    if (rawWebhook !== undefined && rawWebhook !== '') {
      if (sync) {
        throw new GantryError(
          'GANTRY_ERR_VALIDATION',
          'fal_webhook works with the queue API (/queue/...), not /run.',
        );
      }
      webhookUrl = (await checkWebhookUrl(rawWebhook, { allowPrivate: d.webhookAllowPrivate })).href;
    }
    const input = call.body ?? { bytes: Buffer.from('{}'), contentType: 'application/json' };
    checkFileEnvironments(input.bytes, env.id);
    const hint = header(call.headers, 'x-fal-runner-hint');
    if (hint !== undefined && hint.length > MAX_HINT_LENGTH) {
      throw new GantryError(
        'GANTRY_ERR_VALIDATION',
        `x-fal-runner-hint is longer than ${MAX_HINT_LENGTH} characters.`,
      );
    }
    const submit = (idempotency?: IdempotencyClaim) =>
      d.requests.submit(env, {
        path: call.path,
        input,
        runnerHint: hint ?? null,
        keyId: caller?.id ?? null,
        ...opts,
        webhookUrl,
        ...(idempotency ? { idempotency } : {}),
      });
    const key = idempotencyKey(call.headers);
    if (!key) return submit();
    // A sync run and a queue submit are different submits, even with the same body.
    const settings = [call.path, input.contentType, opts.priority, opts.noRetry, webhookUrl, hint];
    const fingerprint = submitFingerprint(sync ? [...settings, 'run'] : settings, input.bytes);
    return submitOnce(d.store, env.id, { key, fingerprint }, submit);
  }

  function sendResult(reply: FastifyReply, rec: RequestRecord) {
    reply.header('x-fal-request-id', rec.id);
    if (rec.expired_at !== null) {
      throw new GantryError('GANTRY_ERR_REQUEST_EXPIRED', undefined, { request_id: rec.id });
    }
    if (rec.error_type) reply.header('x-fal-error-type', rec.error_type);
    // The caller's own start deadline ran out (not an attempt's request_timeout): fal says "user".
    if (rec.error_type === 'request_timeout' && rec.error === START_TIMEOUT_MESSAGE) {
      reply.header('x-fal-request-timeout-type', 'user');
    }
    const type = rec.result_content_type ?? 'application/json';
    // An app may answer any number; an HTTP status is 100–599 (anything else is a bad gateway).
    const status = rec.result_status ?? 500;
    reply.code(status >= 100 && status <= 599 ? status : 502).type(type);
    // The app's bytes exactly; requests from before bytes were kept answer from their JSON.
    if (rec.result_raw) return reply.send(Buffer.from(rec.result_raw));
    const body = rec.result_body;
    return type.includes('json') ? JSON.stringify(body) : String(body ?? '');
  }

  /**
   * fal.stream: the app's events reach the caller as the runner relays them. An app that answers
   * without streaming gets the plain answer; a caller who hangs up cancels the request.
   */
  async function streamRun(rec: RequestRecord, reply: FastifyReply, gone: AbortController, keep: boolean) {
    const deadline = Date.now() + d.syncTimeoutSeconds * 1000;
    const completion = d.requests.waitForCompletion(rec.id, deadline, gone.signal, rec);
    const relay = await d.relays.whenOpened(rec.id, completion);
    if (!relay) return finishSync(rec, await completion, reply, gone, keep);
    reply.hijack();
    reply.raw.writeHead(200, {
      'content-type': 'text/event-stream',
      'cache-control': 'no-cache',
      connection: 'keep-alive',
      'x-fal-request-id': rec.id,
    });
    const stop = relay.follow({ onChunk: (chunk) => reply.raw.write(chunk) });
    const hungUp = new Promise<void>((resolve) => gone.signal.addEventListener('abort', () => resolve()));
    await Promise.race([relay.ended, hungUp]);
    stop();
    if (gone.signal.aborted) return leave(rec, keep);
    // The runner reports the outcome right after its stream ends: a failed one (the app broke
    // off) cuts the connection, so the caller's client sees an error rather than a clean end.
    const done = await d.requests.waitForCompletion(rec.id, Date.now() + 30_000, gone.signal);
    if (done.status === 'COMPLETED' && (done.result_status ?? 500) < 400) reply.raw.end();
    else reply.raw.destroy();
  }

  /**
   * A sync caller hung up: its run is cancelled, unless the call carried an Idempotency-Key (its
   * client means to retry, and the retry with that key waits for this same request instead).
   */
  async function leave(rec: RequestRecord, keep: boolean) {
    if (keep) return;
    // Marked cancelled first, so the attempt the app then cuts short completes as the caller's doing.
    await d.requests.cancel(rec).catch(() => {});
    // A stream that begins after the hang-up is cancelled as it opens.
    d.relays.abandon(rec.id);
  }

  async function finishSync(
    rec: RequestRecord,
    done: RequestRecord,
    reply: FastifyReply,
    gone: AbortController,
    keep: boolean,
  ) {
    if (gone.signal.aborted) {
      await leave(done, keep);
      return reply;
    }
    if (done.status !== 'COMPLETED') {
      reply.header('x-fal-request-id', rec.id);
      throw new GantryError('GANTRY_ERR_SYNC_TIMEOUT', undefined, { request_id: rec.id });
    }
    return sendResult(reply, done);
  }

  return {
    /** fal's storage/upload/initiate[-multipart], through the client proxy: needs a valid key. */
    async initiateUpload(multipart: boolean, req: FastifyRequest) {
      const who = await identify(d.store, req);
      if (!who) {
        throw new GantryError(
          'GANTRY_ERR_UNAUTHORIZED',
          'Uploads need a key: configure the fal client with `credentials` (sent as `Authorization: Key …`).',
        );
      }
      const body = parseJsonBody(req.body as RawBody | undefined);
      const contentType =
        typeof body.content_type === 'string' && body.content_type
          ? body.content_type
          : 'application/octet-stream';
      const fileName = typeof body.file_name === 'string' && body.file_name ? body.file_name : 'file';
      const target = { scope: FilesService.uploadScope(who.owner ?? who.id), contentType, fileName };
      return multipart
        ? d.files.initiateMultipart(base(req), target)
        : d.files.initiateUpload(base(req), target);
    },

    async submit(call: FalCall, req: FastifyRequest, reply: FastifyReply) {
      const rec = await submitCall(call, req, false);
      reply.header('x-fal-request-id', rec.id);
      return {
        request_id: rec.id,
        gateway_request_id: rec.id,
        ...urls(req, call, rec.id),
        queue_position: await d.store.requests.queuePosition(rec),
      };
    },

    async status(call: FalCall, req: FastifyRequest, reply: FastifyReply) {
      const { rec } = await findRequest(call, req);
      reply.header('x-fal-request-id', rec.id);
      const logs = call.query.logs === '1' ? toFalLogs(await d.store.logs.forRequest(rec.id)) : undefined;
      // fal answers 202 while the request is not done, 200 when it is.
      reply.code(rec.status === 'COMPLETED' ? 200 : 202);
      return statusBody(req, call, rec, logs);
    },

    /** Server-sent events: one event per change; `logs` carries only lines new since the last event. */
    async streamStatus(call: FalCall, req: FastifyRequest, reply: FastifyReply) {
      const { rec: first } = await findRequest(call, req);
      const withLogs = call.query.logs === '1';
      const abort = new AbortController();
      reply.raw.on('close', () => abort.abort());
      reply.hijack();
      reply.raw.writeHead(200, {
        'content-type': 'text/event-stream',
        'cache-control': 'no-cache',
        connection: 'keep-alive',
        'x-fal-request-id': first.id,
      });
      let lastSeq = 0;
      let lastKey = '';
      let lastWrite = Date.now();
      // A caller gone before the stream began: nothing to stream (the loop would poll for nothing).
      if (req.raw.destroyed || reply.raw.destroyed) abort.abort();
      // The record comes with each change (all streams of a request share one watch of it); an idle
      // stream reads nothing, it only sends a keep-alive now and then.
      let rec = first;
      let changed: RequestRecord | null | undefined = rec;
      try {
        while (!abort.signal.aborted) {
          const next = d.requests.waitForChange(first.id, abort.signal);
          if (changed !== undefined) {
            if (changed) rec = changed;
            const newLogs = withLogs ? await d.store.logs.forRequest(rec.id, lastSeq) : [];
            if (newLogs.length > 0) lastSeq = newLogs[newLogs.length - 1]!.seq;
            const body = await statusBody(req, call, rec, withLogs ? toFalLogs(newLogs) : undefined);
            const key = `${rec.status}:${String(body.queue_position)}:${String(body.warning)}`;
            if (key !== lastKey || newLogs.length > 0) {
              reply.raw.write(`data: ${JSON.stringify(body)}\n\n`);
              lastKey = key;
              lastWrite = Date.now();
            }
            if (rec.status === 'COMPLETED') break;
          }
          if (Date.now() - lastWrite >= SSE_KEEPALIVE_MS) {
            // A comment line: clients ignore it, proxies see traffic and keep the stream open.
            reply.raw.write(': keep-alive\n\n');
            lastWrite = Date.now();
          }
          changed = await next;
        }
      } finally {
        reply.raw.end();
      }
    },

    async result(call: FalCall, req: FastifyRequest, reply: FastifyReply) {
      const { rec } = await findRequest(call, req);
      if (rec.status !== 'COMPLETED') {
        reply.header('x-fal-request-id', rec.id);
        throw new GantryError('GANTRY_ERR_REQUEST_NOT_COMPLETED', undefined, { status: rec.status });
      }
      return sendResult(reply, rec);
    },

    async cancel(call: FalCall, req: FastifyRequest, reply: FastifyReply) {
      const { rec } = await findRequest(call, req);
      const outcome = await d.requests.cancel(rec);
      reply.header('x-fal-request-id', rec.id);
      reply.code(outcome === 'ALREADY_COMPLETED' ? 400 : 202);
      return { status: outcome };
    },

    /** fal.run: submit, wait, answer with the result itself. A caller that hangs up cancels, unless keyed (see leave). */
    async run(call: FalCall, req: FastifyRequest, reply: FastifyReply) {
      const rec = await submitCall(call, req, true);
      const keep = idempotencyKey(call.headers) !== undefined;
      const gone = new AbortController();
      const onClose = () => {
        if (!reply.raw.writableEnded) gone.abort();
      };
      reply.raw.on('close', onClose);
      try {
        if ((header(call.headers, 'accept') ?? '').includes('text/event-stream')) {
          return await streamRun(rec, reply, gone, keep);
        }
        const deadline = Date.now() + d.syncTimeoutSeconds * 1000;
        const done = await d.requests.waitForCompletion(rec.id, deadline, gone.signal, rec);
        return await finishSync(rec, done, reply, gone, keep);
      } finally {
        reply.raw.off('close', onClose);
      }
    },
  };
}

export type FalHandlers = ReturnType<typeof createFalHandlers>;

/** A file URL of another environment in an input would let one environment read another's outputs. */
function checkFileEnvironments(bytes: Buffer, environmentId: string): void {
  const text = bytes.toString('utf8');
  if (!text.includes('/files/f/')) return;
  for (const m of text.matchAll(/\/files\/f\/([^"?\s]+)/g)) {
    const key = pathToKey(m[1]!);
    const owner = key === undefined ? undefined : FilesService.environmentOfKey(key);
    if (owner !== undefined && owner !== environmentId) {
      throw new GantryError('GANTRY_ERR_FILE_OTHER_ENVIRONMENT');
    }
  }
}

function parseJsonBody(body: RawBody | undefined): Record<string, unknown> {
  if (!body || body.bytes.length === 0) return {};
  const parsed: unknown = JSON.parse(body.bytes.toString('utf8'));
  return typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed)
    ? (parsed as Record<string, unknown>)
    : {};
}

/**
 * fal's routes keep JSON bodies as bytes (checked to be JSON, never re-encoded), so an input
 * reaches the app and the store exactly as the caller sent it.
 */
export function keepRawJson(scope: FastifyInstance): void {
  scope.removeContentTypeParser('application/json');
  scope.addContentTypeParser('application/json', { parseAs: 'buffer' }, (req, body, done) => {
    const bytes = body as Buffer;
    const text = bytes.toString('utf8');
    if (text.trim() === '') return done(null, undefined);
    try {
      parseCallerJson(text);
    } catch (err) {
      return done(err as Error, undefined);
    }
    done(null, { bytes, contentType: req.headers['content-type'] ?? 'application/json' } satisfies RawBody);
  });
}

function header(h: FastifyRequest['headers'], name: string): string | undefined {
  const v = h[name];
  return Array.isArray(v) ? v[0] : v;
}

const AppParams = Type.Object({
  owner: Type.String({ description: 'Owner of the endpoint, e.g. `local`.' }),
  app: Type.String({ description: 'App name; `name--env` for a non-default environment.' }),
});
const RequestParams = Type.Object({ owner: Type.String(), app: Type.String(), request_id: Type.String() });
const LogsQuery = Type.Object({ logs: Type.Optional(Type.String({ description: '`1` to include logs.' })) });
const SubmitQuery = Type.Object({
  fal_webhook: Type.Optional(Type.String()),
  fal_max_queue_length: Type.Optional(Type.String()),
});
const FAL_TAG = ['fal queue API'];

/** The direct routes of fal's API. */
export function registerFalRoutes(app: FastifyInstance, h: FalHandlers): void {
  const call = (req: FastifyRequest, extra: Partial<FalCall> = {}): FalCall => {
    const p = req.params as Record<string, string>;
    return {
      owner: p.owner!,
      app: p.app!,
      path: p['*'] ?? '',
      query: req.query as Record<string, string>,
      headers: req.headers,
      body: req.body as RawBody | undefined,
      ...(p.request_id ? { requestId: p.request_id } : {}),
      ...extra,
    };
  };
  const submitSchema = {
    tags: FAL_TAG,
    summary: 'Submit a request to the queue',
    params: AppParams,
    querystring: SubmitQuery,
  };
  app.post('/queue/:owner/:app', { schema: submitSchema }, (req, reply) => h.submit(call(req), req, reply));
  app.post(
    '/queue/:owner/:app/*',
    { schema: { ...submitSchema, summary: 'Submit to an endpoint path' } },
    (req, reply) => h.submit(call(req), req, reply),
  );
  app.get(
    '/queue/:owner/:app/requests/:request_id/status',
    {
      schema: {
        tags: FAL_TAG,
        summary: 'Status of a request',
        params: RequestParams,
        querystring: LogsQuery,
      },
    },
    (req, reply) => h.status(call(req), req, reply),
  );
  app.get(
    '/queue/:owner/:app/requests/:request_id/status/stream',
    {
      schema: {
        tags: FAL_TAG,
        summary: 'Status as server-sent events, until completed',
        params: RequestParams,
        querystring: LogsQuery,
      },
    },
    (req, reply) => h.streamStatus(call(req), req, reply),
  );
  app.get(
    '/queue/:owner/:app/requests/:request_id',
    { schema: { tags: FAL_TAG, summary: 'Result of a completed request', params: RequestParams } },
    (req, reply) => h.result(call(req), req, reply),
  );
  app.put(
    '/queue/:owner/:app/requests/:request_id/cancel',
    { schema: { tags: FAL_TAG, summary: 'Cancel a request', params: RequestParams } },
    (req, reply) => h.cancel(call(req), req, reply),
  );
  const runSchema = {
    tags: FAL_TAG,
    summary: 'Run synchronously and answer with the result',
    params: AppParams,
  };
  app.post('/run/:owner/:app', { schema: runSchema }, (req, reply) => h.run(call(req), req, reply));
  app.post('/run/:owner/:app/*', { schema: runSchema }, (req, reply) => h.run(call(req), req, reply));
}
