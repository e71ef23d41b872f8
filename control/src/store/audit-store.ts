/**
 * The audit log: one row per management action (who, what, on which app, when, from where, and
 * how it ended), numbered by one sequence so a reader pages back from the last number it saw.
 * Written by the management API's audit hook (audit/audit-hook.ts); read by `GET /v1/audit`.
 */
import type { SqlClient } from '../../../sql/src/sql-client.ts';
import { jsonb } from './jsonb.ts';

export interface AuditRecord {
  seq: number;
  at: number;
  /** The key that made the call (`admin`, `key_…`, an extension's name, `oidc:…`). */
  actor: string;
  /** Who the caller acted for, when it said so (`github:<login>` from the GitHub App). */
  on_behalf_of: string | null;
  action: string;
  target: string;
  owner: string | null;
  /** `owner/name`, when the action was about one app. */
  app: string | null;
  environment: string | null;
  /** The HTTP status the call ended with. */
  status: number;
  ip: string | null;
  detail: Record<string, unknown>;
}

export type NewAuditRecord = Omit<AuditRecord, 'seq' | 'at'>;

export interface AuditQuery {
  app?: string | undefined;
  owner?: string | undefined;
  actor?: string | undefined;
  since?: number | undefined;
  /** Only entries older than this sequence number (the page cursor). */
  before?: number | undefined;
  limit: number;
}

const COLS =
  'seq::float8 AS seq, at, actor, on_behalf_of, action, target, owner, app, environment, status, ip, detail';

export class AuditStore {
  constructor(
    private readonly db: SqlClient,
    private readonly clock: () => number = Date.now,
  ) {}

  async append(e: NewAuditRecord): Promise<void> {
    await this.db.query(
      `INSERT INTO audit_log (at, actor, on_behalf_of, action, target, owner, app, environment, status, ip, detail)
       VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11::jsonb)`,
      [
        this.clock(),
        e.actor,
        e.on_behalf_of,
        e.action,
        e.target,
        e.owner,
        e.app,
        e.environment,
        e.status,
        e.ip,
        jsonb(e.detail) ?? '{}',
      ],
    );
  }

  /** Entries matching the filters, newest first, at most `limit`. */
  async list(q: AuditQuery): Promise<AuditRecord[]> {
    const where: string[] = [];
    const params: unknown[] = [];
    const add = (sql: string, v: unknown) => {
      params.push(v);
      where.push(sql.replaceAll('?', `$${params.length}`));
    };
    if (q.app !== undefined) add('app = ?', q.app);
    if (q.owner !== undefined) add('owner = ?', q.owner);
    if (q.actor !== undefined) add('(actor = ? OR on_behalf_of = ?)', q.actor);
    if (q.since !== undefined) add('at >= ?', q.since);
    if (q.before !== undefined) add('seq < ?', q.before);
    params.push(q.limit);
    const r = await this.db.query<AuditRecord>(
      `SELECT ${COLS} FROM audit_log ${where.length ? `WHERE ${where.join(' AND ')}` : ''}
       ORDER BY seq DESC LIMIT $${params.length}`,
      params,
    );
    return r.rows.map((x) => ({ ...x, seq: Number(x.seq), status: Number(x.status) }));
  }

  /** Drops entries older than `before` (the log is kept for its retention). */
  async prune(before: number): Promise<number> {
    const r = await this.db.query<{ n: number }>(
      'WITH gone AS (DELETE FROM audit_log WHERE at < $1 RETURNING 1) SELECT COUNT(*)::int AS n FROM gone',
      [before],
    );
    return Number(r.rows[0]?.n ?? 0);
  }
}
