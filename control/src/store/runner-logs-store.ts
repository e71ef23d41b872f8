/**
 * What a runner's app printed outside any request: setup, startup and crash output. Numbered from
 * the same sequence as request log lines, so one cursor follows both (`gantry logs --follow`, the
 * console's logs tab).
 */
import type { SqlClient } from '../../../sql/src/sql-client.ts';

export interface RunnerLogLine {
  seq: number;
  runner_id: string;
  timestamp: string;
  level: string;
  source: string;
  message: string;
}

export class RunnerLogsStore {
  constructor(private readonly db: SqlClient) {}

  async append(
    runnerId: string,
    environmentId: string,
    lines: { timestamp: string; level: string; source: string; message: string }[],
  ): Promise<void> {
    if (lines.length === 0) return;
    await this.db.query(
      `INSERT INTO runner_logs (runner_id, environment_id, ts, level, source, message)
       SELECT $1, $2, l.ts, l.level, l.source, l.message
       FROM unnest($3::text[], $4::text[], $5::text[], $6::text[]) WITH ORDINALITY AS l(ts, level, source, message, ord)
       WHERE EXISTS (SELECT 1 FROM environments WHERE id = $2)
       ORDER BY l.ord`,
      [
        runnerId,
        environmentId,
        lines.map((l) => l.timestamp),
        lines.map((l) => l.level),
        lines.map((l) => l.source),
        lines.map((l) => l.message.replaceAll('\u0000', '\uFFFD')),
      ],
    );
  }

  /** Lines of an environment's runners after `after` (oldest first), or, when after is 0, the last `limit`. */
  async forEnvironment(envId: string, after: number, limit: number): Promise<RunnerLogLine[]> {
    const cols = 'seq::float8 AS seq, runner_id, ts AS timestamp, level, source, message';
    const r = await this.db.query<RunnerLogLine>(
      after > 0
        ? `SELECT ${cols} FROM runner_logs WHERE environment_id=$1 AND seq > $2 ORDER BY seq LIMIT $3`
        : `SELECT * FROM (SELECT ${cols} FROM runner_logs WHERE environment_id=$1 AND seq > $2
             ORDER BY seq DESC LIMIT $3) t ORDER BY seq`,
      [envId, after, limit],
    );
    return r.rows.map((l) => ({ ...l, seq: Number(l.seq) }));
  }
}
