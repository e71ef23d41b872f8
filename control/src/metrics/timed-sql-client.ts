/**
 * Times every statement the store runs, for `gantry_store_query_duration_seconds`. The label is
 * the statement's verb and first table (`UPDATE runners`): the SQL is the code's own, so the set
 * of labels is as small as the set of tables.
 */
import type { QueryResult, SqlClient } from '../../../sql/src/sql-client.ts';

export type ObserveQuery = (statement: string, seconds: number, ok: boolean) => void;

const VERB = /^\s*(SELECT|INSERT|UPDATE|DELETE|WITH)\b/i;
const TABLE = /\b(?:FROM|INTO|UPDATE|JOIN)\s+([a-z_]+)/i;

/** `UPDATE runners`, `SELECT requests`, …; `other` for what does not parse. */
export function statementLabel(sql: string): string {
  const verb = VERB.exec(sql)?.[1]?.toUpperCase();
  const table = TABLE.exec(sql)?.[1]?.toLowerCase();
  if (!verb) return 'other';
  return table ? `${verb} ${table}` : verb;
}

export class TimedSqlClient implements SqlClient {
  constructor(
    private readonly inner: SqlClient,
    private readonly observe: ObserveQuery,
  ) {}

  get kind(): SqlClient['kind'] {
    return this.inner.kind;
  }

  async query<T = Record<string, unknown>>(sql: string, params?: unknown[]): Promise<QueryResult<T>> {
    const started = process.hrtime.bigint();
    let ok = false;
    try {
      const r = await this.inner.query<T>(sql, params);
      ok = true;
      return r;
    } finally {
      this.observe(statementLabel(sql), Number(process.hrtime.bigint() - started) / 1e9, ok);
    }
  }

  exec(sql: string): Promise<void> {
    return this.inner.exec(sql);
  }

  transaction<T>(fn: (tx: SqlClient) => Promise<T>): Promise<T> {
    return this.inner.transaction((tx) => fn(new TimedSqlClient(tx, this.observe)));
  }

  close(): Promise<void> {
    return this.inner.close();
  }
}
