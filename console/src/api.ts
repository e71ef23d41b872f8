/**
 * How the console talks to control: same-origin fetches that carry the session cookie (httpOnly,
 * so this code never sees the key), with the session's CSRF token on every call that changes
 * something. Errors keep control's catalogue code so pages can say what went wrong.
 */
import type { Session } from './api-types.ts';

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string | undefined,
    message: string,
  ) {
    super(message);
  }
}

let csrf = '';

/** Remembers the token of the signed-in session; sign-out clears it. */
export function setCsrfToken(token: string): void {
  csrf = token;
}

async function call<T>(method: string, path: string, body?: unknown): Promise<T> {
  const headers: Record<string, string> = { accept: 'application/json' };
  if (body !== undefined) headers['content-type'] = 'application/json';
  if (method !== 'GET' && csrf) headers['x-gantry-csrf'] = csrf;
  let res: Response;
  try {
    res = await fetch(path, {
      method,
      headers,
      credentials: 'same-origin',
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
    });
  } catch {
    throw new ApiError(0, undefined, 'Cannot reach Gantry control. Is it running?');
  }
  const text = await res.text();
  let parsed: unknown;
  try {
    parsed = text ? JSON.parse(text) : undefined;
  } catch {
    parsed = text;
  }
  if (!res.ok) {
    const b = (parsed ?? {}) as { code?: string; message?: string; detail?: unknown };
    const message = b.message ?? (typeof b.detail === 'string' ? b.detail : `HTTP ${res.status}`);
    throw new ApiError(res.status, b.code, message);
  }
  return parsed as T;
}

export const api = {
  get: <T>(path: string) => call<T>('GET', path),
  post: <T>(path: string, body?: unknown) => call<T>('POST', path, body ?? {}),
  put: <T>(path: string, body?: unknown) => call<T>('PUT', path, body ?? {}),
  del: <T>(path: string) => call<T>('DELETE', path),
};

export const session = {
  current: () => api.get<Session>('/console/session'),
  signIn: (key: string) => api.post<Session>('/console/session', { key }),
  signOut: () => api.del<void>('/console/session'),
};

/** `/v1/apps/{owner}/{name}/environments/{env}` with each part escaped. */
export function envPath(owner: string, name: string, env: string): string {
  return `/v1/apps/${encodeURIComponent(owner)}/${encodeURIComponent(name)}/environments/${encodeURIComponent(env)}`;
}

/** Where a call of the endpoint goes: `/run/{endpoint id}{path}`. */
export function runPath(endpointId: string, path: string): string {
  const clean = path.trim().replace(/^\/+/, '');
  return `/run/${endpointId}${clean ? `/${clean}` : ''}`;
}
