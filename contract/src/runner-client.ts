/**
 * Typed HTTP client for the runner protocol (runner-protocol.ts), used by the runner.
 *
 * Errors come in two kinds so the caller can choose a retry policy: `ControlUnreachableError` when
 * no answer arrived (network error, control restarting, call timed out) and `ControlHttpError` when
 * control answered with a non-2xx status. `isRetryableControlError` says which ones are worth retrying.
 */
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { Readable } from 'node:stream';
import {
  type ClaimBody,
  type ClaimResponse,
  type HeartbeatBody,
  type HeartbeatResponse,
  type LogsBody,
  type PullRequestBody,
  type PullResponse,
  type ResultBody,
  type ResultResponse,
  RUNNER_ROUTES,
  type StateReport,
  type StreamResponse,
} from './runner-protocol.ts';

/** Control answered, but not with a 2xx status. */
export class ControlHttpError extends Error {
  override readonly name = 'ControlHttpError';
  constructor(
    readonly route: string,
    readonly status: number,
    /** Parsed JSON when control answered JSON, otherwise the text. */
    readonly body: unknown,
  ) {
    super(`control answered ${status} to ${route}: ${describeBody(body)}`);
  }
}

/** No answer from control: connection refused or reset, DNS failure, or the call timed out. */
export class ControlUnreachableError extends Error {
  override readonly name = 'ControlUnreachableError';
  constructor(
    readonly route: string,
    cause: unknown,
  ) {
    super(`control unreachable on ${route}: ${cause instanceof Error ? cause.message : String(cause)}`, {
      cause,
    });
  }
}

/** Control answered 2xx with a body that does not match the protocol. */
export class ControlProtocolError extends Error {
  override readonly name = 'ControlProtocolError';
  constructor(
    readonly route: string,
    message: string,
  ) {
    super(`unexpected answer from control on ${route}: ${message}`);
  }
}

/** True for failures that may go away by themselves (control restarting, overloaded): retry with backoff. */
export function isRetryableControlError(err: unknown): boolean {
  if (err instanceof ControlUnreachableError) return true;
  if (err instanceof ControlHttpError) return err.status >= 500 || err.status === 429 || err.status === 408;
  return false;
}

export interface CallOptions {
  /** Aborts the call; the promise then rejects with the signal's reason, not a control error. */
  signal?: AbortSignal;
}

export interface RunnerClient {
  reportState(report: StateReport, options?: CallOptions): Promise<void>;
  /** Long-polls for jobs; the call is allowed to last `wait_ms` plus the client's timeout. */
  pull(body: PullRequestBody, options?: CallOptions): Promise<PullResponse>;
  heartbeat(body: HeartbeatBody, options?: CallOptions): Promise<HeartbeatResponse>;
  sendLogs(body: LogsBody, options?: CallOptions): Promise<void>;
  reportResult(body: ResultBody, options?: CallOptions): Promise<ResultResponse>;
  /** Direct SQS runners: start the attempt for a message received from SQS. */
  claim(body: ClaimBody, options?: CallOptions): Promise<ClaimResponse>;
  /**
   * Relays an app's server-sent events for one request to control as they arrive; resolves when
   * control has taken the whole stream, or earlier with `cancel: true` when the caller hung up.
   * No timeout: the stream lasts as long as the app streams.
   */
  streamEvents(requestId: string, events: Readable, options?: CallOptions): Promise<StreamResponse>;
}

export interface RunnerClientOptions {
  /** Control's base URL, e.g. `http://127.0.0.1:8080`. */
  baseUrl: string;
  runnerId: string;
  token: string;
  fetch?: typeof globalThis.fetch;
  /** A call with no answer after this long counts as unreachable (added to `wait_ms` for pulls). */
  timeoutMs?: number;
}

type Route = keyof typeof RUNNER_ROUTES;

export function createRunnerClient(options: RunnerClientOptions): RunnerClient {
  const fetchImpl = options.fetch ?? globalThis.fetch;
  const timeoutMs = options.timeoutMs ?? 15_000;
  const base = options.baseUrl.replace(/\/+$/, '');

  async function call(
    route: Route,
    body: unknown,
    callTimeoutMs: number,
    opts?: CallOptions,
  ): Promise<unknown> {
    const path = RUNNER_ROUTES[route].replace(':id', encodeURIComponent(options.runnerId));
    const timeout = AbortSignal.timeout(callTimeoutMs);
    const signal = opts?.signal ? AbortSignal.any([opts.signal, timeout]) : timeout;
    let response: Response;
    let text: string;
    try {
      response = await fetchImpl(base + path, {
        method: 'POST',
        headers: { authorization: `Bearer ${options.token}`, 'content-type': 'application/json' },
        body: JSON.stringify(body),
        signal,
      });
      text = await response.text();
    } catch (err) {
      if (opts?.signal?.aborted) throw opts.signal.reason;
      throw new ControlUnreachableError(route, err);
    }
    const parsed = parseBody(text, response.headers.get('content-type'));
    if (!response.ok) throw new ControlHttpError(route, response.status, parsed);
    return parsed;
  }

  function streamEvents(requestId: string, events: Readable, opts?: CallOptions): Promise<StreamResponse> {
    const path = RUNNER_ROUTES.stream
      .replace(':id', encodeURIComponent(options.runnerId))
      .replace(':request_id', encodeURIComponent(requestId));
    const url = new URL(base + path);
    // node:http, not fetch: a stream may outlast fetch's own time limits, and its body is sent as
    // it is produced.
    const send = url.protocol === 'https:' ? httpsRequest : httpRequest;
    return new Promise<StreamResponse>((resolve, reject) => {
      const req = send(
        url,
        {
          method: 'POST',
          headers: {
            authorization: `Bearer ${options.token}`,
            'content-type': 'text/event-stream',
            'transfer-encoding': 'chunked',
          },
          ...(opts?.signal ? { signal: opts.signal } : {}),
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => {
            const status = res.statusCode ?? 0;
            const text = Buffer.concat(chunks).toString('utf8');
            if (status >= 200 && status < 300) {
              const answer = parseBody(text, res.headers['content-type'] ?? null);
              return resolve({ cancel: isRecord(answer) && answer['cancel'] === true });
            }
            reject(
              new ControlHttpError('stream', status, parseBody(text, res.headers['content-type'] ?? null)),
            );
          });
          res.on('error', (err) => reject(new ControlUnreachableError('stream', err)));
        },
      );
      req.on('error', (err) =>
        reject(opts?.signal?.aborted ? opts.signal.reason : new ControlUnreachableError('stream', err)),
      );
      events.on('error', (err) => req.destroy(err));
      events.pipe(req);
    });
  }

  return {
    streamEvents,
    async reportState(report, opts) {
      await call('state', report, timeoutMs, opts);
    },
    async pull(body, opts) {
      const answer = await call('pull', body, body.wait_ms + timeoutMs, opts);
      if (!isRecord(answer) || !Array.isArray(answer['jobs']) || typeof answer['drain'] !== 'boolean') {
        throw new ControlProtocolError('pull', 'expected {jobs: Job[], drain: boolean}');
      }
      return answer as PullResponse;
    },
    async heartbeat(body, opts) {
      const answer = await call('heartbeat', body, timeoutMs, opts);
      if (
        !isRecord(answer) ||
        !Array.isArray(answer['cancel']) ||
        !Array.isArray(answer['lost']) ||
        typeof answer['drain'] !== 'boolean'
      ) {
        throw new ControlProtocolError(
          'heartbeat',
          'expected {cancel: string[], lost: string[], drain: boolean}',
        );
      }
      return answer as HeartbeatResponse;
    },
    async sendLogs(body, opts) {
      await call('logs', body, timeoutMs, opts);
    },
    async reportResult(body, opts) {
      const answer = await call('result', body, timeoutMs, opts);
      if (
        !isRecord(answer) ||
        typeof answer['recorded'] !== 'boolean' ||
        typeof answer['decision'] !== 'string'
      ) {
        throw new ControlProtocolError('result', 'expected {recorded: boolean, decision: string}');
      }
      return answer as ResultResponse;
    },
    async claim(body, opts) {
      const answer = await call('claim', body, timeoutMs, opts);
      if (
        !isRecord(answer) ||
        typeof answer['message'] !== 'string' ||
        typeof answer['drain'] !== 'boolean'
      ) {
        throw new ControlProtocolError('claim', 'expected {job?: Job, message: string, drain: boolean}');
      }
      return answer as ClaimResponse;
    },
  };
}

function parseBody(text: string, contentType: string | null): unknown {
  if (text === '') return undefined;
  if (contentType?.includes('json')) {
    try {
      return JSON.parse(text);
    } catch {
      return text;
    }
  }
  return text;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function describeBody(body: unknown): string {
  const text = typeof body === 'string' ? body : JSON.stringify(body);
  if (text === undefined || text === '') return '(empty body)';
  return text.length > 500 ? `${text.slice(0, 500)}…` : text;
}
