/**
 * What happened to each environment, in order: one row per event, numbered by one sequence so a
 * reader follows from the last number it saw (the cursor). Written by the event log
 * (events/event-log.ts), read by the events API and the console.
 */
import type { SqlClient } from '../../../sql/src/sql-client.ts';

export interface EventRecord {
  seq: number;
  environment_id: string;
  at: number;
  type: string;
  message: string;
  runner_id: string | null;
  revision: number | null;
  data: Record<string, unknown>;
}

export type NewEvent = Omit<EventRecord, 'seq' | 'at'>;

export class EventsStore {
  constructor(
    private readonly db: SqlClient,
    private readonly clock: () => number = Date.now,
  ) {}

  async append(e: NewEvent): Promise<EventRecord> {
    const r = await this.db.query<EventRecord>(
      `INSERT INTO events (environment_id, at, type, message, runner_id, revision, data)
       SELECT $1, $2, $3, $4, $5, $6, $7::jsonb WHERE EXISTS (SELECT 1 FROM environments WHERE id = $1)
       RETURNING seq::float8 AS seq, environment_id, at, type, message, runner_id, revision, data`,
      [
        e.environment_id,
        this.clock(),
        e.type,
        e.message.replaceAll('\u0000', '\uFFFD'),
        e.runner_id,
        e.revision,
        JSON.stringify(e.data),
      ],
    );
    const row = r.rows[0];
    return row ? { ...row, seq: Number(row.seq) } : { ...e, seq: 0, at: this.clock() };
  }

  /** Events after `after`, oldest first; or, with no cursor, the last `limit` events. */
  async list(envId: string, after: number | undefined, limit: number): Promise<EventRecord[]> {
    const cols = 'seq::float8 AS seq, environment_id, at, type, message, runner_id, revision, data';
    const r = await this.db.query<EventRecord>(
      after === undefined
        ? `SELECT * FROM (SELECT ${cols} FROM events WHERE environment_id=$1 ORDER BY seq DESC LIMIT $2) t ORDER BY seq`
        : `SELECT ${cols} FROM events WHERE environment_id=$1 AND seq > $3 ORDER BY seq LIMIT $2`,
      after === undefined ? [envId, limit] : [envId, limit, after],
    );
    return r.rows.map((x) => ({ ...x, seq: Number(x.seq) }));
  }

  /** Drops events older than `before` (the log keeps a bounded history). */
  async prune(before: number): Promise<number> {
    const r = await this.db.query<{ n: number }>(
      'WITH gone AS (DELETE FROM events WHERE at < $1 RETURNING 1) SELECT COUNT(*)::int AS n FROM gone',
      [before],
    );
    return Number(r.rows[0]?.n ?? 0);
  }

  /** The app (`owner/name`) and environment name of an environment id, for labels and messages. */
  async whereIs(envId: string): Promise<{ application: string; environment: string } | undefined> {
    const r = await this.db.query<{ application: string; environment: string }>(
      `SELECT a.owner || '/' || a.name AS application, e.name AS environment
       FROM environments e JOIN apps a ON a.id = e.app_id WHERE e.id = $1`,
      [envId],
    );
    return r.rows[0];
  }
}
