import { mkdirSync } from 'node:fs';
import { PGlite, type Transaction } from '@electric-sql/pglite';
import type { QueryResult, SqlClient } from './sql-client.ts';

type Queryable = Pick<PGlite, 'query' | 'exec'> | Transaction;

class PgliteTx implements SqlClient {
  readonly kind = 'pglite' as const;
  constructor(private readonly q: Queryable) {}
  async query<T>(sql: string, params: unknown[] = []): Promise<QueryResult<T>> {
    const r = await this.q.query<T>(sql, params);
    return { rows: r.rows, rowCount: r.affectedRows ?? r.rows.length };
  }
  async exec(sql: string): Promise<void> {
    await this.q.exec(sql);
  }
  transaction<T>(fn: (tx: SqlClient) => Promise<T>): Promise<T> {
    // PGlite has one connection; a nested transaction simply runs inside the outer one.
    return fn(this);
  }
  async close(): Promise<void> {}
}

/** The embedded store: PostgreSQL compiled to WASM, kept on disk in `dir` (or in memory when dir is undefined). */
export class PgliteClient extends PgliteTx {
  private constructor(private readonly db: PGlite) {
    super(db);
  }

  static async open(dir: string | undefined): Promise<PgliteClient> {
    if (dir) mkdirSync(dir, { recursive: true });
    const db = dir ? await PGlite.create(dir) : await PGlite.create();
    return new PgliteClient(db);
  }

  override transaction<T>(fn: (tx: SqlClient) => Promise<T>): Promise<T> {
    return this.db.transaction((tx) => fn(new PgliteTx(tx)));
  }

  override async close(): Promise<void> {
    await this.db.close();
  }
}
