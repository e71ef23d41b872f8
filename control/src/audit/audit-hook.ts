/**
 * Records every management action in the audit log: a hook of the management API's admin scope,
 * so a route added there is audited without a line of its own. A change (any method but GET) is
 * recorded once it answered, with its status, whoever made it and from where; a refused change is
 * recorded too, since "who tried" matters as much as "who did". Secret values, keys and tokens
 * never enter the log: a secret change records the names only.
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Caller } from '../domain.ts';
import type { NewAuditRecord } from '../store/audit-store.ts';
import type { Store } from '../store/store.ts';

/** The action names of the management routes (method and route as registered under /v1). */
const ACTIONS: Record<string, string> = {
  'POST /apps': 'app.create',
  'PATCH /apps/:owner/:name': 'app.update',
  'DELETE /apps/:owner/:name': 'app.delete',
  'POST /apps/:owner/:name/environments': 'environment.create',
  'DELETE /apps/:owner/:name/environments/:env': 'environment.delete',
  'PATCH /apps/:owner/:name/environments/:env/scaling': 'scaling.update',
  'PUT /apps/:owner/:name/environments/:env/secrets': 'secret.set',
  'DELETE /apps/:owner/:name/environments/:env/secrets/:secret': 'secret.delete',
  'POST /apps/:owner/:name/environments/:env/revisions': 'revision.register',
  'PUT /apps/:owner/:name/environments/:env/active-revision': 'revision.activate',
  'DELETE /apps/:owner/:name/environments/:env/revisions/:number': 'revision.delete',
  'POST /apps/:owner/:name/environments/:env/rollouts': 'rollout.start',
  'DELETE /apps/:owner/:name/environments/:env/queue': 'queue.flush',
  'POST /apps/:owner/:name/environments/:env/runners/:runner/stop': 'runner.stop',
  'POST /apps/:owner/:name/environments/:env/runners/:runner/kill': 'runner.kill',
  'POST /keys': 'key.create',
  'DELETE /keys/:id': 'key.revoke',
};

/** Body fields that are never recorded, whatever the route. */
const NEVER = new Set(['secrets', 'value', 'key', 'token', 'password']);

/** `revision.activate` of an earlier revision than the one serving is a rollback. */
export const ROLLBACK_MARK = Symbol('gantry.audit.previousRevision');

export interface AuditHookDeps {
  store: Store;
  /** The caller the admin check found for this request (undefined: it was refused before). */
  callerOf: (req: FastifyRequest) => Caller | undefined;
}

/** The action name of a route: from the table, else `METHOD /route`. */
export function auditAction(method: string, route: string): string {
  return ACTIONS[`${method} ${route}`] ?? `${method} ${route}`;
}

function detailOf(req: FastifyRequest, action: string): Record<string, unknown> {
  const body = req.body;
  if (action === 'secret.set' && body && typeof body === 'object') {
    const secrets = (body as { secrets?: unknown }).secrets;
    return { names: secrets && typeof secrets === 'object' ? Object.keys(secrets).sort() : [] };
  }
  if (!body || typeof body !== 'object' || Array.isArray(body)) return {};
  return Object.fromEntries(Object.entries(body).filter(([k]) => !NEVER.has(k)));
}

function targetOf(params: Record<string, string>, route: string): string {
  const parts: string[] = [];
  if (params.owner && params.name) parts.push(`${params.owner}/${params.name}`);
  if (params.env) parts.push(params.env);
  for (const k of ['secret', 'number', 'id', 'runner']) if (params[k]) parts.push(params[k]!);
  return parts.join(' ') || route;
}

/** The record for one answered change; undefined for reads and for calls with no known caller. */
export function auditRecord(
  req: FastifyRequest,
  reply: FastifyReply,
  caller: Caller | undefined,
): NewAuditRecord | undefined {
  if (req.method === 'GET' || req.method === 'HEAD' || req.method === 'OPTIONS' || !caller) return undefined;
  const route = (req.routeOptions.url ?? req.url).replace(/^\/v1/, '');
  let action = auditAction(req.method, route);
  const params = (req.params ?? {}) as Record<string, string>;
  const body = (req.body ?? {}) as Record<string, unknown>;
  const previous = (req as unknown as Record<symbol, unknown>)[ROLLBACK_MARK];
  if (
    action === 'revision.activate' &&
    typeof previous === 'number' &&
    typeof body.revision === 'number' &&
    body.revision < previous
  ) {
    action = 'revision.rollback';
  }
  const bodyOwner = typeof body.owner === 'string' ? body.owner : undefined;
  // A new app names itself in the body; so does the owner a new key is for.
  const created =
    route === '/apps' && bodyOwner && typeof body.name === 'string' ? `${bodyOwner}/${body.name}` : null;
  const appId = params.owner && params.name ? `${params.owner}/${params.name}` : created;
  const by = typeof body.by === 'string' && body.by !== '' ? body.by : null;
  return {
    actor: caller.id,
    on_behalf_of: by,
    action,
    target: targetOf(params, created ?? route),
    owner: params.owner ?? (route === '/apps' || route === '/keys' ? (bodyOwner ?? null) : null),
    app: appId,
    environment: params.env ?? null,
    status: reply.statusCode,
    ip: req.ip ?? null,
    detail: detailOf(req, action),
  };
}
