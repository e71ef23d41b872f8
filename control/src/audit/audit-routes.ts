/**
 * `GET /v1/audit`: the audit log, newest first, one page at a time. An ADMIN key limited to an
 * owner reads only the entries about that owner's apps and keys.
 */
import type { FastifyRequest } from 'fastify';
import type { Static } from 'typebox';
import { GantryError } from '../../../contract/src/errors.ts';
import { type AuditEntry, AuditList, AuditQuery } from '../../../contract/src/management-api.ts';
import type { Caller } from '../domain.ts';
import type { V1Scope } from '../routes/v1.ts';
import type { AuditRecord } from '../store/audit-store.ts';
import type { Store } from '../store/store.ts';

const view = (e: AuditRecord): AuditEntry => ({
  seq: e.seq,
  at: new Date(e.at).toISOString(),
  actor: e.actor,
  on_behalf_of: e.on_behalf_of,
  action: e.action,
  target: e.target,
  app: e.app,
  environment: e.environment,
  status: e.status,
  ip: e.ip,
  detail: e.detail,
});

export function registerAuditRoutes(
  app: V1Scope,
  d: { store: Store; callerOf: (req: FastifyRequest) => Caller | undefined },
): void {
  app.get(
    '/audit',
    {
      schema: {
        tags: ['management v1'],
        summary: 'The audit log of management actions, newest first (filters: app, actor, since)',
        querystring: AuditQuery,
        response: { 200: AuditList },
      },
    },
    async (req): Promise<Static<typeof AuditList>> => {
      const q = req.query;
      const caller = d.callerOf(req);
      const limited = caller?.scope === 'ADMIN' && caller.owner !== null ? caller.owner : undefined;
      if (limited && q.app && !q.app.startsWith(`${limited}/`)) {
        throw new GantryError(
          'GANTRY_ERR_KEY_SCOPE',
          `Key ${caller!.id} is limited to the apps of ${limited}; ${q.app} is not one of them.`,
        );
      }
      const limit = q.limit ?? 100;
      const entries = await d.store.audit.list({
        app: q.app,
        owner: limited,
        actor: q.actor,
        since: q.since === undefined ? undefined : Date.parse(q.since),
        before: q.before,
        limit,
      });
      return {
        entries: entries.map(view),
        next_before: entries.length === limit ? entries[entries.length - 1]!.seq : null,
      };
    },
  );
}
