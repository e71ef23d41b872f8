import pg from 'pg';
import type { QueryResult, SqlClient } from './sql-client.ts';

// float8 columns hold epoch milliseconds; node-pg already returns them as numbers.
type Runner = Pick<pg.Pool, 'query'> | pg.PoolClient;

class PgTx implements SqlClient {
  readonly kind = 'postgres' as const;
  constructor(protected readonly q: Runner) {}
  async query<T>(sql: string, params: unknown[] = []): Promise<QueryResult<T>> {
    const r = await this.q.query(sql, params);
    return { rows: r.rows as T[], rowCount: r.rowCount ?? r.rows.length };
  }
  async exec(sql: string): Promise<void> {
    await this.q.query(sql);
  }
  transaction<T>(fn: (tx: SqlClient) => Promise<T>): Promise<T> {
    return fn(this);
  }
  async close(): Promise<void> {}
}

/** The production store: a pool of connections to PostgreSQL. */
export class PgClient extends PgTx {
  private constructor(private readonly pool: pg.Pool) {
    super(pool);
  }

  /** `schema` isolates one database for tests (created when missing, then the search path). */
  static async open(url: string, opts: { schema?: string } = {}): Promise<PgClient> {
    const { schema } = opts;
    if (schema && !/^[a-z_][a-z0-9_]*$/.test(schema)) throw new Error(`bad schema name ${schema}`);
    const pool = new pg.Pool({
      connectionString: url,
      max: 10,
      ...(schema ? { options: `-c search_path=${schema}` } : {}),
    });
    // Fail at start, with the server's own words, rather than on the first request.
    const c = await pool.connect();
    if (schema) await c.query(`CREATE SCHEMA IF NOT EXISTS ${schema}`);
    c.release();
    return new PgClient(pool);
  }

  override async transaction<T>(fn: (tx: SqlClient) => Promise<T>): Promise<T> {
    const client = await this.pool.connect();
    try {
      await client.query('BEGIN');
      const out = await fn(new PgTx(client));
      await client.query('COMMIT');
      return out;
    } catch (err) {
      await client.query('ROLLBACK').catch(() => {});
      throw err;
    } finally {
      client.release();
    }
  }

  override async close(): Promise<void> {
    await this.pool.end();
  }
}
