/**
 * A small client of control's HTTP API for the CLI. Every failure becomes a CliError whose message
 * is control's own (it already names what was not found and what exists) and whose exit code
 * follows the HTTP status.
 */
import { CliError, EXIT, exitForStatus } from './exit-codes.ts';

export interface ErrorBody {
  code?: string;
  message?: string;
  detail?: unknown;
  allowed?: string[];
}

export class ApiError extends CliError {
  constructor(
    readonly status: number,
    readonly body: ErrorBody,
    message: string,
  ) {
    super(exitForStatus(status), message);
  }
}

export interface RequestOptions {
  body?: unknown;
  query?: Record<string, string | number | undefined>;
  signal?: AbortSignal;
}

export class ApiClient {
  constructor(
    readonly url: string,
    private readonly key: string | undefined,
    private readonly fetchImpl: typeof fetch = fetch,
  ) {}

  get hasKey(): boolean {
    return this.key !== undefined;
  }

  /** A raw call; the caller reads the response. Network failures become a clear CliError. */
  async raw(method: string, pathname: string, o: RequestOptions = {}): Promise<Response> {
    const u = new URL(this.url + pathname);
    for (const [k, v] of Object.entries(o.query ?? {})) if (v !== undefined) u.searchParams.set(k, String(v));
    const headers: Record<string, string> = {};
    if (this.key) headers.authorization = `Key ${this.key}`;
    if (o.body !== undefined) headers['content-type'] = 'application/json';
    try {
      return await this.fetchImpl(u, {
        method,
        headers,
        ...(o.body !== undefined ? { body: JSON.stringify(o.body) } : {}),
        ...(o.signal ? { signal: o.signal } : {}),
      });
    } catch (err) {
      if ((err as Error).name === 'AbortError') throw err;
      const cause = (err as { cause?: { code?: string; message?: string } }).cause;
      throw new CliError(
        EXIT.FAILURE,
        `Cannot reach Gantry control at ${this.url} (${cause?.code ?? cause?.message ?? (err as Error).message}). ` +
          'Is it running (`npm start`)? Point the CLI elsewhere with --url, GANTRY_URL or `gantry login`.',
      );
    }
  }

  /** A JSON call; a non-2xx answer throws ApiError with control's message. */
  async call<T>(method: string, pathname: string, o: RequestOptions = {}): Promise<T> {
    const res = await this.raw(method, pathname, o);
    const text = await res.text();
    let body: unknown;
    try {
      body = text === '' ? undefined : JSON.parse(text);
    } catch {
      body = text;
    }
    if (!res.ok) throw this.toError(res.status, body);
    return body as T;
  }

  toError(status: number, body: unknown): ApiError {
    const b: ErrorBody = body && typeof body === 'object' ? (body as ErrorBody) : {};
    let message = b.message ?? (typeof body === 'string' && body ? body : `Control answered HTTP ${status}.`);
    if (b.allowed) message += ` Allowed: ${b.allowed.join(', ')}.`;
    if (status === 401) {
      message += this.key
        ? ' The key was not accepted: check it, or run `gantry login`.'
        : ' No key was found: pass --key, set GANTRY_KEY or run `gantry login`.';
    }
    return new ApiError(status, b, message);
  }
}
