/** Log lines of requests, numbered by one sequence so readers can follow from where they were. */
import type { SqlClient } from '../../../sql/src/sql-client.ts';
import type { RequestLog } from '../domain.ts';

export interface NewLog {
  request_id: string;
  timestamp: string;
  level: string;
  source: string;
  message: string;
}

export class LogsStore {
  constructor(private readonly db: SqlClient) {}

  async append(logs: NewLog[], environmentId?: string): Promise<void> {
    if (logs.length === 0) return;
    // Lines for a request deleted meanwhile (its app was deleted), or of another environment than
    // the runner's, are dropped, not an error.
    await this.db.query(
      `INSERT INTO request_logs (request_id, ts, level, source, message)
       SELECT l.request_id, l.ts, l.level, l.source, l.message
       FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[])
         WITH ORDINALITY AS l(request_id, ts, level, source, message, ord)
       WHERE EXISTS (SELECT 1 FROM requests r
                     WHERE r.id = l.request_id AND ($6::text IS NULL OR r.environment_id = $6))
       ORDER BY l.ord`,
      [
        logs.map((l) => l.request_id),
        logs.map((l) => l.timestamp),
        logs.map((l) => l.level),
        logs.map((l) => l.source),
        // PostgreSQL text cannot hold NUL; an app that prints one must not lose its other lines.
        logs.map((l) => l.message.replaceAll('\u0000', '\uFFFD')),
        environmentId ?? null,
      ],
    );
  }

  /** Logs of a request after sequence number `after` (0 = from the start), oldest first. */
  async forRequest(requestId: string, after = 0): Promise<RequestLog[]> {
    const r = await this.db.query<RequestLog>(
      `SELECT seq::float8 AS seq, ts AS timestamp, level, source, message FROM request_logs
       WHERE request_id=$1 AND seq > $2 ORDER BY seq`,
      [requestId, after],
    );
    return r.rows.map((l) => ({ ...l, seq: Number(l.seq) }));
  }

  /**
   * Log lines of every request of an environment: after `after` (oldest first, for following),
   * or, when after is 0, the last `limit` lines.
   */
  async forEnvironment(
    envId: string,
    after: number,
    limit: number,
  ): Promise<(RequestLog & { request_id: string })[]> {
    const r = await this.db.query<RequestLog & { request_id: string }>(
      after > 0
        ? `SELECT l.seq::float8 AS seq, l.request_id, l.ts AS timestamp, l.level, l.source, l.message
           FROM request_logs l JOIN requests q ON q.id = l.request_id
           WHERE q.environment_id=$1 AND l.seq > $2 ORDER BY l.seq LIMIT $3`
        : `SELECT * FROM (
             SELECT l.seq::float8 AS seq, l.request_id, l.ts AS timestamp, l.level, l.source, l.message
             FROM request_logs l JOIN requests q ON q.id = l.request_id
             WHERE q.environment_id=$1 AND l.seq > $2 ORDER BY l.seq DESC LIMIT $3) t ORDER BY seq`,
      [envId, after, limit],
    );
    return r.rows.map((l) => ({ ...l, seq: Number(l.seq) }));
  }

  /** The highest log sequence number so far (where following starts). */
  async lastSeq(): Promise<number> {
    const r = await this.db.query<{ n: number }>(
      'SELECT COALESCE(MAX(seq), 0)::float8 AS n FROM request_logs',
    );
    return Number(r.rows[0]!.n);
  }
}
