/**
 * fal's client proxy convention: a client configured with `proxyUrl` sends every call to that one
 * URL, naming the real target in `x-fal-target-url`. We map the target (queue.fal.run, fal.run, or
 * this service's own /queue and /run URLs) onto the same handlers as the direct routes, and fal's
 * storage calls (rest.fal.ai `storage/upload/initiate[-multipart]`) onto Gantry's files.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { GantryError } from '../../../contract/src/errors.ts';
import type { FalCall, FalHandlers, RawBody } from './fal-api.ts';

export interface StorageHandlers {
  /** fal's `storage/upload/initiate[-multipart]`: answers `{upload_url, file_url}`. */
  initiateUpload(multipart: boolean, req: FastifyRequest): Promise<unknown>;
}

export const TARGET_URL_HEADER = 'x-fal-target-url';

type Op = 'submit' | 'status' | 'streamStatus' | 'result' | 'cancel' | 'run';

export type ProxyTarget =
  | { op: Op; call: Omit<FalCall, 'headers' | 'body'> }
  /** fal's storage: where to upload a file (`multipart` above fal's client's 90 MB). */
  | { op: 'storage'; multipart: boolean };

/** Hosts of fal's REST API, whose storage calls the client makes before sending a file input. */
const REST_HOSTS = new Set(['rest.fal.ai', 'rest.alpha.fal.ai']);

/** Parses a target URL and method into one of fal's operations; undefined when it is not one. */
export function parseTarget(raw: string, method: string, ownHost?: string): ProxyTarget | undefined {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return undefined;
  }
  let segments: string[];
  try {
    segments = url.pathname.split('/').filter(Boolean).map(decodeURIComponent);
  } catch {
    return undefined; // a malformed escape: not a call this proxy serves
  }
  if (REST_HOSTS.has(url.hostname) && method.toUpperCase() === 'POST') {
    const p = url.pathname.replace(/\/+$/, '');
    if (p === '/storage/upload/initiate') return { op: 'storage', multipart: false };
    if (p === '/storage/upload/initiate-multipart') return { op: 'storage', multipart: true };
    return undefined;
  }
  let kind: 'queue' | 'run';
  if (url.hostname === 'queue.fal.run') kind = 'queue';
  else if (url.hostname === 'fal.run') kind = 'run';
  else if (ownHost && url.host === ownHost && (segments[0] === 'queue' || segments[0] === 'run')) {
    kind = segments.shift() as 'queue' | 'run';
  } else return undefined;

  const [owner, app, ...rest] = segments;
  if (!owner || !app) return undefined;
  const query = Object.fromEntries(url.searchParams.entries());
  const call = { owner, app, path: '', query };
  const m = method.toUpperCase();
  if (kind === 'run')
    return m === 'POST' ? { op: 'run', call: { ...call, path: rest.join('/') } } : undefined;
  if (m === 'POST') return { op: 'submit', call: { ...call, path: rest.join('/') } };
  if (rest[0] !== 'requests' || !rest[1]) return undefined;
  const requestId = rest[1];
  const tail = rest.slice(2).join('/');
  if (m === 'GET' && tail === '') return { op: 'result', call: { ...call, requestId } };
  if (m === 'GET' && tail === 'status') return { op: 'status', call: { ...call, requestId } };
  if (m === 'GET' && tail === 'status/stream') return { op: 'streamStatus', call: { ...call, requestId } };
  if (m === 'PUT' && tail === 'cancel') return { op: 'cancel', call: { ...call, requestId } };
  return undefined;
}

export function registerFalProxy(app: FastifyInstance, h: FalHandlers & StorageHandlers): void {
  const handle = (req: FastifyRequest, reply: FastifyReply) => {
    const raw = req.headers[TARGET_URL_HEADER];
    const target = typeof raw === 'string' ? parseTarget(raw, req.method, req.host) : undefined;
    if (!target) {
      throw new GantryError(
        'GANTRY_ERR_BAD_PROXY_TARGET',
        raw
          ? `${req.method} ${String(raw)} is not a fal queue or run call this proxy serves.`
          : `The ${TARGET_URL_HEADER} header is missing.`,
      );
    }
    if (target.op === 'storage') return h.initiateUpload(target.multipart, req);
    const call: FalCall = { ...target.call, headers: req.headers, body: req.body as RawBody | undefined };
    return h[target.op](call, req, reply);
  };
  app.route({
    method: ['GET', 'POST', 'PUT'],
    url: '/fal/proxy',
    schema: {
      tags: ['fal queue API'],
      summary: `fal client proxy: the call named by the ${TARGET_URL_HEADER} header`,
    },
    handler: handle,
  });
}
