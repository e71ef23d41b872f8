/**
 * The one typed client of control's management API (`/v1/…`), used by the CLI, the GitHub App, the
 * Action and the bench. Every answer is checked against its schema in management-api.ts, so a
 * control of another version fails here with the field named, not three calls later.
 *
 * Failures come in three kinds: `ControlApiError` (control refused, with the catalogue's code,
 * status and fault), `ControlApiUnreachableError` (no answer) and `ControlApiAnswerError` (an
 * answer that is not the API's shape). Idempotent calls are retried when the fault is the server's
 * or control was unreachable; a client fault is never retried, it would get the same answer.
 */
import type { Static, TSchema } from 'typebox';
import { Check, Errors } from 'typebox/value';
import { ERRORS, type ErrorCode, type Fault } from './errors.ts';
import * as api from './management-api.ts';

/** The body of every error control answers (errors.ts). */
export interface ErrorBody {
  code?: string;
  message?: string;
  detail?: unknown;
  /** Names a setting refusal allows. */
  allowed?: string[];
  [extra: string]: unknown;
}

const isErrorCode = (c: unknown): c is ErrorCode => typeof c === 'string' && Object.hasOwn(ERRORS, c);

/** Control answered with an error status. */
export class ControlApiError extends Error {
  override readonly name = 'ControlApiError';
  /** The catalogue's code; `undefined` when the answer had none (a proxy in between, say). */
  readonly code: ErrorCode | undefined;
  /** The catalogue's fault for the code; without a code, the status decides. */
  readonly fault: Fault;
  constructor(
    readonly status: number,
    readonly body: ErrorBody,
    message?: string,
  ) {
    super(message ?? body.message ?? `control answered HTTP ${status}`);
    this.code = isErrorCode(body.code) ? body.code : undefined;
    this.fault = this.code ? ERRORS[this.code].fault : status >= 500 || status === 429 ? 'server' : 'client';
  }
}

/** No answer from control: connection refused, DNS failure, or the call timed out. */
export class ControlApiUnreachableError extends Error {
  override readonly name = 'ControlApiUnreachableError';
  constructor(
    readonly url: string,
    /** The system's short reason (`ECONNREFUSED`, a timeout message, …). */
    readonly reason: string,
    cause: unknown,
  ) {
    super(`cannot reach Gantry control at ${url} (${reason})`, { cause });
  }
}

/** Control answered 2xx with a body that is not the API's shape. */
export class ControlApiAnswerError extends Error {
  override readonly name = 'ControlApiAnswerError';
  constructor(
    readonly route: string,
    readonly status: number,
    detail: string,
  ) {
    super(`unexpected answer from control to ${route} (HTTP ${status}): ${detail}`);
  }
}

/** True for failures that may pass by themselves: worth another try with backoff. */
export function isRetryableControlApiError(err: unknown): boolean {
  if (err instanceof ControlApiUnreachableError) return true;
  return err instanceof ControlApiError && err.fault === 'server';
}

export interface AppRef {
  owner: string;
  name: string;
}
export interface EnvRef extends AppRef {
  env: string;
}

export interface ControlApiClientOptions {
  /** Control's base URL, without a trailing slash. */
  url: string;
  /** A management key, sent as `Authorization: Key <key>`. */
  key?: string;
  /** The whole `Authorization` header instead (`Bearer <oidc token>`); wins over `key`. */
  authorization?: string;
  fetch?: typeof fetch;
  /** Each attempt's time limit; default 30 s. Long polls add their wait to it. */
  timeoutMs?: number;
  /** Further attempts of an idempotent call after a server fault; default 2. */
  retries?: number;
  /** Waits between attempts; tests pass one that does not wait. */
  sleep?: (ms: number) => Promise<void>;
}

export interface SendOptions {
  body?: unknown;
  query?: Record<string, string | number | boolean | undefined>;
  signal?: AbortSignal;
}

interface CallOptions extends SendOptions {
  /** Safe to repeat: retried on a server fault. */
  idempotent?: boolean;
  /** Extra time on top of the attempt's limit (long polls). */
  extraMs?: number;
}

const seg = encodeURIComponent;
const appPath = (r: AppRef) => `/v1/apps/${seg(r.owner)}/${seg(r.name)}`;
const envPath = (r: EnvRef) => `${appPath(r)}/environments/${seg(r.env)}`;
const defaultSleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

export class ControlApiClient {
  readonly url: string;
  private readonly fetchImpl: typeof fetch;
  private readonly authorization: string | undefined;

  constructor(private readonly o: ControlApiClientOptions) {
    this.url = o.url.replace(/\/+$/, '');
    this.fetchImpl = o.fetch ?? globalThis.fetch;
    this.authorization = o.authorization ?? (o.key ? `Key ${o.key}` : undefined);
  }

  /** True when calls carry a credential. */
  get hasCredential(): boolean {
    return this.authorization !== undefined;
  }

  /**
   * One HTTP call with this client's credential; the caller reads the response. For routes outside
   * the management API (the fal queue API). Throws ControlApiUnreachableError when nothing answered.
   */
  async send(
    method: string,
    pathname: string,
    o: SendOptions & { timeoutMs?: number } = {},
  ): Promise<Response> {
    const u = new URL(this.url + pathname);
    for (const [k, v] of Object.entries(o.query ?? {})) if (v !== undefined) u.searchParams.set(k, String(v));
    const headers: Record<string, string> = {};
    if (this.authorization) headers.authorization = this.authorization;
    if (o.body !== undefined) headers['content-type'] = 'application/json';
    const signals = [
      o.signal,
      o.timeoutMs === undefined ? undefined : AbortSignal.timeout(o.timeoutMs),
    ].filter((s): s is AbortSignal => s !== undefined);
    try {
      return await this.fetchImpl(u, {
        method,
        headers,
        ...(o.body !== undefined ? { body: JSON.stringify(o.body) } : {}),
        ...(signals.length > 0
          ? { signal: signals.length === 1 ? signals[0] : AbortSignal.any(signals) }
          : {}),
      });
    } catch (err) {
      // The caller's own abort is not a failure of control.
      if (o.signal?.aborted) throw err;
      const cause = (err as { cause?: { code?: string; message?: string } }).cause;
      throw new ControlApiUnreachableError(
        this.url,
        cause?.code ?? cause?.message ?? (err as Error).message,
        err,
      );
    }
  }

  /** The typed error for a non-2xx answer. */
  static errorFrom(status: number, body: unknown): ControlApiError {
    const b: ErrorBody = body && typeof body === 'object' ? (body as ErrorBody) : {};
    const text = typeof body === 'string' && body !== '' ? body.slice(0, 300) : undefined;
    return new ControlApiError(status, b, b.message ?? text);
  }

  private async call<S extends TSchema>(
    schema: S | undefined,
    method: string,
    pathname: string,
    o: CallOptions = {},
  ): Promise<{ status: number; body: Static<S> }> {
    const retries = o.idempotent ? (this.o.retries ?? 2) : 0;
    for (let attempt = 0; ; attempt++) {
      try {
        return await this.once(schema, method, pathname, o);
      } catch (err) {
        if (attempt >= retries || !isRetryableControlApiError(err) || o.signal?.aborted) throw err;
        await (this.o.sleep ?? defaultSleep)(250 * 2 ** attempt);
      }
    }
  }

  private async once<S extends TSchema>(
    schema: S | undefined,
    method: string,
    pathname: string,
    o: CallOptions,
  ): Promise<{ status: number; body: Static<S> }> {
    const res = await this.send(method, pathname, {
      ...o,
      timeoutMs: (this.o.timeoutMs ?? 30_000) + (o.extraMs ?? 0),
    });
    const text = await res.text();
    let body: unknown;
    try {
      body = text === '' ? undefined : JSON.parse(text);
    } catch {
      body = text;
    }
    if (!res.ok) throw ControlApiClient.errorFrom(res.status, body);
    const route = `${method} ${pathname}`;
    if (schema && !Check(schema, body)) {
      const first = Errors(schema, body)[0];
      throw new ControlApiAnswerError(
        route,
        res.status,
        first ? `${first.instancePath || '(body)'} ${first.message}` : 'the body does not match the API',
      );
    }
    return { status: res.status, body: body as Static<S> };
  }

  private async get<S extends TSchema>(schema: S, pathname: string, o: CallOptions = {}): Promise<Static<S>> {
    return (await this.call(schema, 'GET', pathname, { ...o, idempotent: true })).body;
  }

  // ---- apps ----

  async listApps(): Promise<api.AppView[]> {
    return (await this.get(api.AppList, '/v1/apps')).apps;
  }
  async getApp(app: AppRef): Promise<api.AppWithEnvironments> {
    return this.get(api.AppWithEnvironments, appPath(app));
  }
  async createApp(body: api.CreateApp): Promise<api.AppView> {
    return (await this.call(api.AppView, 'POST', '/v1/apps', { body })).body;
  }
  async patchApp(app: AppRef, body: api.PatchApp): Promise<api.AppView> {
    return (await this.call(api.AppView, 'PATCH', appPath(app), { body, idempotent: true })).body;
  }
  async deleteApp(app: AppRef): Promise<void> {
    await this.call(undefined, 'DELETE', appPath(app));
  }

  // ---- environments and scaling ----

  async listEnvironments(app: AppRef): Promise<api.EnvironmentListView[]> {
    return (await this.get(api.EnvironmentList, `${appPath(app)}/environments`)).environments;
  }
  async createEnvironment(app: AppRef, body: api.CreateEnvironment): Promise<api.EnvironmentListView> {
    return (await this.call(api.EnvironmentListView, 'POST', `${appPath(app)}/environments`, { body })).body;
  }
  async deleteEnvironment(env: EnvRef): Promise<void> {
    await this.call(undefined, 'DELETE', envPath(env));
  }
  async getScaling(env: EnvRef): Promise<api.ScalingView> {
    return this.get(api.ScalingView, `${envPath(env)}/scaling`);
  }
  /** Changes the named settings; the answer is every setting after the change. */
  async patchScaling(env: EnvRef, patch: Record<string, unknown>): Promise<api.ScalingView> {
    return (
      await this.call(api.ScalingView, 'PATCH', `${envPath(env)}/scaling`, { body: patch, idempotent: true })
    ).body;
  }

  // ---- revisions and rollouts ----

  async listRevisions(env: EnvRef): Promise<api.RevisionView[]> {
    return (await this.get(api.RevisionList, `${envPath(env)}/revisions`)).revisions;
  }
  async createRevision(env: EnvRef, body: api.CreateRevision): Promise<api.RevisionView> {
    return (await this.call(api.RevisionView, 'POST', `${envPath(env)}/revisions`, { body })).body;
  }
  async deleteRevision(env: EnvRef, number: number): Promise<void> {
    await this.call(undefined, 'DELETE', `${envPath(env)}/revisions/${number}`);
  }
  /** Moves the environment to a revision through a rollout (a rollback names an earlier one). */
  async setActiveRevision(env: EnvRef, body: api.SetActive): Promise<api.ActiveRevisionView> {
    return (await this.call(api.ActiveRevisionView, 'PUT', `${envPath(env)}/active-revision`, { body })).body;
  }
  async startRollout(env: EnvRef, body: api.StartRollout): Promise<api.RolloutView> {
    return (await this.call(api.RolloutView, 'POST', `${envPath(env)}/rollouts`, { body })).body;
  }
  async listRollouts(env: EnvRef, query: { limit?: number } = {}): Promise<api.RolloutView[]> {
    return (await this.get(api.RolloutList, `${envPath(env)}/rollouts`, { query })).rollouts;
  }

  // ---- runners, requests, queue, logs ----

  async listRunners(env: EnvRef, query: api.RunnersQuery = {}): Promise<api.RunnerView[]> {
    return (await this.get(api.RunnerList, `${envPath(env)}/runners`, { query })).runners;
  }
  /** `stop` drains the runner first; `kill` ends it at once. The runner is named by id or prefix. */
  async runnerAction(env: EnvRef, runner: string, action: 'stop' | 'kill'): Promise<api.RunnerView> {
    return (await this.call(api.RunnerView, 'POST', `${envPath(env)}/runners/${seg(runner)}/${action}`)).body;
  }
  async listRequests(env: EnvRef, query: { limit?: number } = {}): Promise<api.RequestView[]> {
    return (await this.get(api.RequestList, `${envPath(env)}/requests`, { query })).requests;
  }
  async deadLetters(
    env: EnvRef,
    query: { limit?: number } = {},
  ): Promise<{ dead_letter_queue_depth: number; requests: api.RequestView[] }> {
    return this.get(api.DeadLetterList, `${envPath(env)}/dead-letters`, { query });
  }
  async queue(env: EnvRef): Promise<api.QueueView> {
    return this.get(api.QueueView, `${envPath(env)}/queue`);
  }
  /** Cancels every queued request of the environment. */
  async flushQueue(env: EnvRef): Promise<api.FlushView> {
    return (await this.call(api.FlushView, 'DELETE', `${envPath(env)}/queue`)).body;
  }
  async requestLogs(
    env: EnvRef,
    requestId: string,
    query: { after?: number } = {},
  ): Promise<api.RequestLogs> {
    return this.get(api.RequestLogs, `${envPath(env)}/requests/${seg(requestId)}/logs`, { query });
  }
  /** Log lines of the environment; with `after` and `wait_ms`, a long poll. */
  async environmentLogs(
    env: EnvRef,
    query: api.EnvLogsQuery = {},
    signal?: AbortSignal,
  ): Promise<api.EnvLogs> {
    return this.get(api.EnvLogs, `${envPath(env)}/logs`, {
      query,
      extraMs: query.wait_ms ?? 0,
      ...(signal ? { signal } : {}),
    });
  }

  // ---- events ----

  /** The environment's events after `after`, or its last `limit`. */
  async events(env: EnvRef, query: { after?: number; limit?: number } = {}): Promise<api.EventList> {
    return this.get(api.EventList, `${envPath(env)}/events`, { query });
  }
  /**
   * The environment's events after `after` as a server-sent event stream that stays open; the
   * caller reads the body (each event's `id:` is its cursor).
   */
  async followEvents(env: EnvRef, after: number, signal?: AbortSignal): Promise<Response> {
    const res = await this.send('GET', `${envPath(env)}/events`, {
      query: { follow: true, after },
      ...(signal ? { signal } : {}),
    });
    if (!res.ok || !res.body) {
      const text = await res.text().catch(() => '');
      let body: unknown = text;
      try {
        body = JSON.parse(text);
      } catch {
        // Not JSON: errorFrom keeps the text.
      }
      throw ControlApiClient.errorFrom(res.status, body);
    }
    return res;
  }

  // ---- secrets ----

  async setSecrets(env: EnvRef, secrets: Record<string, string>): Promise<api.SecretChange> {
    return (
      await this.call(api.SecretChange, 'PUT', `${envPath(env)}/secrets`, {
        body: { secrets },
        idempotent: true,
      })
    ).body;
  }
  async listSecrets(env: EnvRef): Promise<api.SecretList> {
    return this.get(api.SecretList, `${envPath(env)}/secrets`);
  }
  async unsetSecrets(env: EnvRef, names: string[]): Promise<api.SecretChange> {
    return (
      await this.call(api.SecretChange, 'DELETE', `${envPath(env)}/secrets/${names.map(seg).join(',')}`)
    ).body;
  }

  // ---- keys ----

  /** The answer is the only place the key itself is ever shown. */
  async createKey(body: api.CreateKey): Promise<api.CreatedKey> {
    return (await this.call(api.CreatedKey, 'POST', '/v1/keys', { body })).body;
  }
  async listKeys(): Promise<api.KeyListView[]> {
    return (await this.get(api.KeyList, '/v1/keys')).keys;
  }
  async revokeKey(id: string): Promise<void> {
    await this.call(undefined, 'DELETE', `/v1/keys/${seg(id)}`);
  }

  // ---- audit log ----

  /** One page of the audit log, newest first; pass `next_before` as `before` for the next. */
  async listAudit(query: api.AuditQuery = {}): Promise<api.AuditList> {
    return this.get(api.AuditList, '/v1/audit', { query });
  }

  // ---- builds ----

  /** Registers a build; `created` is false when control already held it (a re-run). */
  async registerBuild(body: api.RegisterBuild): Promise<{ build: api.BuildView; created: boolean }> {
    // Registration is idempotent on control's side, so a retry cannot register twice.
    const r = await this.call(api.BuildView, 'POST', '/v1/builds', { body, idempotent: true });
    return { build: r.body, created: r.status === 201 };
  }
  async listBuilds(query: api.BuildsQuery): Promise<api.BuildView[]> {
    return (await this.get(api.BuildList, '/v1/builds', { query })).builds;
  }
}
