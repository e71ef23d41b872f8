/**
 * The app SDK: an HTTP server (node:http only) that implements Gantry's app contract.
 *
 * - `GET /health`: 503 `{status:'SETUP'}` while setup() runs, 200 `{status:'READY'}` after,
 *   500 `{status:'SETUP_FAILED', detail}` if it threw.
 * - `POST /<path>` with a JSON body and `x-fal-request-id` calls the endpoint; `POST /<path>/cancel`
 *   with the same header aborts that request's `ctx.signal`.
 * - An endpoint's answer is JSON, unless it returns an async iterable (each item becomes one
 *   server-sent event, fal's streaming endpoints) or a `RawResponse` (bytes with their own type).
 *   Errors are `{detail}`.
 */
import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { type FalFile, FILES_URL_HEADER } from '../../contract/src/app-files.ts';
import { HttpError } from './http-error.ts';
import { type FileData, type UploadFileOptions, uploadFile } from './output-files.ts';
import { RawResponse } from './raw-response.ts';
import { installRequestConsole, requestLogger, runInRequest } from './request-console.ts';

export interface RequestContext {
  /** The caller's request id (`x-fal-request-id`), or a fresh one when called directly. */
  requestId: string;
  /** Like console.log, attributed to this request in Gantry's logs. */
  log: (...args: unknown[]) => void;
  /** Aborts when the caller cancels this request or the connection to the runner closes. */
  signal: AbortSignal;
  /**
   * Stores an output file and answers fal's file object to put in the result
   * (`{image: await ctx.uploadFile(png, {contentType: 'image/png'})}`).
   */
  uploadFile: (data: FileData, options?: UploadFileOptions) => Promise<FalFile>;
}

/** Input is whatever JSON the caller sent: validate it, and throw `HttpError(422, …)` when it is wrong. */
export type EndpointHandler = (input: unknown, ctx: RequestContext) => unknown;

export interface AppDefinition {
  /** Runs once after the server listens (health answers 503 meanwhile): load models here. */
  setup?: () => void | Promise<void>;
  /** Keys are paths: '/' for the root endpoint, '/stream-free/other' for a sub-path. */
  endpoints: Record<string, EndpointHandler>;
  /** Runs on shutdown, after the server stopped taking requests, if setup succeeded. */
  teardown?: () => void | Promise<void>;
}

export interface ListeningApp {
  port: number;
  /** Resolves when setup() finished, rejects with its error. */
  ready: Promise<void>;
  /** Stops taking requests, waits for those in progress, then runs teardown. */
  close(): Promise<void>;
}

export interface GantryApp {
  listen(port?: number, host?: string): Promise<ListeningApp>;
  /** Serves as a process: see `runApp`. */
  serve(): Promise<void>;
}

type Status = { state: 'SETUP' } | { state: 'READY' } | { state: 'SETUP_FAILED'; detail: string };

/** Status for a handler that threw after its request was cancelled (nginx's "client closed request"). */
const CANCELLED_STATUS = 499;

export function defineApp(definition: AppDefinition): GantryApp {
  const endpoints = new Map<string, EndpointHandler>();
  for (const [path, handler] of Object.entries(definition.endpoints))
    endpoints.set(normalizePath(path), handler);

  const app: GantryApp = {
    async listen(port = 0, host = '127.0.0.1') {
      let status: Status = { state: 'SETUP' };
      const inProgress = new Map<string, AbortController>();
      const uninstallConsole = installRequestConsole();

      const server = createServer((req, res) => {
        handle(req, res).catch((err: unknown) => {
          // Only reached if writing the answer itself failed; the connection is gone either way.
          console.error('gantry sdk: failed to answer a request:', err);
          res.destroy();
        });
      });

      async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
        const path = normalizePath(new URL(req.url ?? '/', 'http://app').pathname);
        if (path === '/health') {
          if (status.state === 'READY') return send(res, 200, { status: 'READY' });
          if (status.state === 'SETUP') return send(res, 503, { status: 'SETUP' });
          return send(res, 500, { status: 'SETUP_FAILED', detail: status.detail });
        }

        const handler = endpoints.get(path);
        const cancelOf = path.endsWith('/cancel')
          ? normalizePath(path.slice(0, -'/cancel'.length))
          : undefined;
        if (!handler && cancelOf !== undefined && endpoints.has(cancelOf)) {
          if (req.method !== 'POST') return send(res, 405, { detail: `use POST for ${path}` });
          const requestId = headerValue(req, 'x-fal-request-id');
          const controller = requestId === undefined ? undefined : inProgress.get(requestId);
          if (!controller)
            return send(res, 404, { detail: `no request ${requestId ?? '(missing id)'} in progress` });
          controller.abort(new Error('request cancelled'));
          return send(res, 202, { status: 'CANCELLATION_REQUESTED' });
        }
        if (!handler) return send(res, 404, { detail: `no endpoint at ${path}` });
        if (req.method !== 'POST') return send(res, 405, { detail: `use POST for ${path}` });
        if (status.state !== 'READY')
          return send(res, 503, { detail: 'app is not ready: setup has not finished' });

        const text = await readBody(req);
        let input: unknown;
        try {
          input = text.trim() === '' ? {} : JSON.parse(text);
        } catch (err) {
          return send(res, 400, { detail: `request body is not valid JSON: ${(err as Error).message}` });
        }

        const requestId = headerValue(req, 'x-fal-request-id') ?? randomUUID();
        const controller = new AbortController();
        // A closed connection means the runner gave up (timeout, drain): stop the work too.
        res.on('close', () => {
          if (!res.writableFinished)
            controller.abort(new Error('connection closed before the answer was sent'));
        });
        inProgress.set(requestId, controller);
        const filesUrl = headerValue(req, FILES_URL_HEADER);
        const ctx: RequestContext = {
          requestId,
          log: requestLogger(requestId),
          signal: controller.signal,
          uploadFile: (data, options) => uploadFile(filesUrl, data, options),
        };
        try {
          await runInRequest(requestId, async () => {
            let output: unknown;
            try {
              output = await handler(input, ctx);
            } catch (err) {
              if (!(err instanceof HttpError) && !controller.signal.aborted) {
                console.error(`endpoint ${path} failed:`, err);
              }
              throw err;
            }
            // A stream runs inside the request too, so its console lines are attributed to it.
            if (output instanceof RawResponse) sendRaw(res, output);
            else if (isAsyncIterable(output)) await streamEvents(res, output, controller.signal, path);
            else send(res, 200, output ?? null);
          });
        } catch (err) {
          if (err instanceof HttpError) send(res, err.status, { detail: err.detail });
          else if (controller.signal.aborted) send(res, CANCELLED_STATUS, { detail: 'request cancelled' });
          else send(res, 500, { detail: err instanceof Error ? err.message : String(err) });
        } finally {
          if (inProgress.get(requestId) === controller) inProgress.delete(requestId);
        }
      }

      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(port, host, () => {
          server.off('error', reject);
          resolve();
        });
      });

      const ready = (async () => {
        try {
          await definition.setup?.();
          status = { state: 'READY' };
        } catch (err) {
          status = { state: 'SETUP_FAILED', detail: err instanceof Error ? err.message : String(err) };
          throw err;
        }
      })();
      // Callers that only serve traffic may never await `ready`; the failure still shows in /health.
      ready.catch(() => {});

      let closing: Promise<void> | undefined;
      return {
        port: (server.address() as AddressInfo).port,
        ready,
        close() {
          closing ??= (async () => {
            await new Promise<void>((resolve) => {
              server.close(() => resolve());
              server.closeIdleConnections();
            });
            uninstallConsole();
            if (status.state === 'READY') await definition.teardown?.();
          })();
          return closing;
        },
      };
    },
    serve() {
      return runApp(app);
    },
  };
  return app;
}

export interface RunAppOptions {
  env?: NodeJS.ProcessEnv;
}

/**
 * Serves the app as a process: listens on PORT (default 8080) and HOST (default 127.0.0.1), exits 1
 * if setup fails (so the runner sees the crash), and on SIGTERM or SIGINT stops, tears down, exits 0.
 */
export async function runApp(app: GantryApp, options: RunAppOptions = {}): Promise<void> {
  const env = options.env ?? process.env;
  const port = Number(env['PORT'] ?? 8080);
  if (!Number.isInteger(port) || port < 0 || port > 65_535) {
    console.error(`gantry app: PORT must be a port number, got '${env['PORT']}'`);
    process.exit(2);
  }
  const host = env['HOST'] ?? '127.0.0.1';
  const listening = await app.listen(port, host);
  console.error(`gantry app: listening on http://${host}:${listening.port}`);

  const stop = (signal: string) => {
    console.error(`gantry app: ${signal} received, shutting down`);
    listening.close().then(
      () => process.exit(0),
      (err: unknown) => {
        console.error('gantry app: teardown failed:', err);
        process.exit(1);
      },
    );
  };
  process.once('SIGTERM', () => stop('SIGTERM'));
  process.once('SIGINT', () => stop('SIGINT'));

  try {
    await listening.ready;
  } catch (err) {
    console.error('gantry app: setup failed:', err);
    process.exit(1);
  }
}

function normalizePath(path: string): string {
  const trimmed = path.replace(/\/+$/, '');
  return trimmed.startsWith('/') ? trimmed || '/' : `/${trimmed}`;
}

function headerValue(req: IncomingMessage, name: string): string | undefined {
  const value = req.headers[name];
  const first = Array.isArray(value) ? value[0] : value;
  return first === undefined || first === '' ? undefined : first;
}

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

function isAsyncIterable(value: unknown): value is AsyncIterable<unknown> {
  return typeof value === 'object' && value !== null && Symbol.asyncIterator in value;
}

function sendRaw(res: ServerResponse, raw: RawResponse): void {
  res.writeHead(raw.status, { 'content-type': raw.contentType, 'content-length': raw.body.length });
  res.end(raw.body);
}

/**
 * One server-sent event per item, written as soon as the endpoint yields it. An endpoint that
 * throws mid-stream has its connection cut: the runner turns that into fal's error event.
 */
async function streamEvents(
  res: ServerResponse,
  items: AsyncIterable<unknown>,
  signal: AbortSignal,
  path: string,
): Promise<void> {
  res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
  res.flushHeaders();
  const iterator = items[Symbol.asyncIterator]();
  // A cancel stops the stream at once, not at the endpoint's next event (which may be far off).
  const cancelled = new Promise<'cancelled'>((resolve) => {
    if (signal.aborted) resolve('cancelled');
    else signal.addEventListener('abort', () => resolve('cancelled'), { once: true });
  });
  try {
    for (;;) {
      const next = iterator.next();
      const step = await Promise.race([next, cancelled]);
      if (step === 'cancelled') {
        // The endpoint stops at its next await or yield; whatever it still does is dropped.
        next.catch(() => {});
        iterator.return?.()?.catch(() => {});
        throw signal.reason ?? new Error('request cancelled');
      }
      if (step.done) break;
      res.write(`data: ${JSON.stringify(step.value ?? null)}\n\n`);
    }
    res.end();
  } catch (err) {
    if (!signal.aborted) console.error(`endpoint ${path} failed mid-stream:`, err);
    // Close the socket after what was written (the events so far), without the chunked
    // terminator: the reader sees the stream cut short, not ended (a cancelled one too: it did
    // not finish).
    if (res.socket) res.socket.end();
    else res.destroy();
  }
}

function send(res: ServerResponse, status: number, body: unknown): void {
  if (res.headersSent || res.destroyed) return;
  let payload: string;
  try {
    payload = JSON.stringify(body);
  } catch (err) {
    status = 500;
    payload = JSON.stringify({
      detail: `endpoint output is not JSON-serialisable: ${(err as Error).message}`,
    });
  }
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) });
  res.end(payload);
}
