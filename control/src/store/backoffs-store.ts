/**
 * Crash backoff per environment, in the database so that every control process honours it (a
 * replica must not start the runner its peer just backed off from).
 */
import type { SqlClient } from '../../../sql/src/sql-client.ts';
import type { Backoff, FailureKind } from '../scaling/backoff.ts';

export class BackoffsStore {
  constructor(private readonly db: SqlClient) {}

  async get(envId: string): Promise<Backoff | undefined> {
    const r = await this.db.query<{ kind: FailureKind; crashes: number; until: number }>(
      'SELECT kind, crashes, until FROM environment_backoffs WHERE environment_id=$1',
      [envId],
    );
    const row = r.rows[0];
    return row ? { kind: row.kind, crashes: Number(row.crashes), until: Number(row.until) } : undefined;
  }

  async set(envId: string, b: Backoff): Promise<void> {
    await this.db.query(
      `INSERT INTO environment_backoffs (environment_id, kind, crashes, until) VALUES ($1,$2,$3,$4)
       ON CONFLICT (environment_id) DO UPDATE SET kind=EXCLUDED.kind, crashes=EXCLUDED.crashes, until=EXCLUDED.until`,
      [envId, b.kind, b.crashes, b.until],
    );
  }

  async clear(envId: string): Promise<void> {
    await this.db.query('DELETE FROM environment_backoffs WHERE environment_id=$1', [envId]);
  }
}
