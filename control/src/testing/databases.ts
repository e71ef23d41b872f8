/**
 * The databases a contract suite runs against: PGlite always, PostgreSQL when DATABASE_URL is set
 * (CI sets it). Each open gets a fresh, empty schema so test files never see each other's rows.
 */
import { randomBytes } from 'node:crypto';
import { PgClient } from '../../../sql/src/pg-client.ts';
import { PgliteClient } from '../../../sql/src/pglite-client.ts';
import type { SqlClient } from '../../../sql/src/sql-client.ts';

export interface DatabaseTarget {
  name: string;
  open(): Promise<SqlClient>;
}

export function databaseTargets(env: Record<string, string | undefined> = process.env): DatabaseTarget[] {
  const targets: DatabaseTarget[] = [{ name: 'pglite', open: () => PgliteClient.open(undefined) }];
  const url = env.DATABASE_URL;
  if (url) {
    targets.push({
      name: 'postgres',
      open: () => PgClient.open(url, { schema: `t_${randomBytes(6).toString('hex')}` }),
    });
  }
  return targets;
}

/** Empties every table (between tests that share one database). */
export async function truncateAll(db: SqlClient): Promise<void> {
  await db.exec(
    'TRUNCATE apps, environments, revisions, requests, request_logs, runners, queue_messages, api_keys, audit_log, controls, environment_leases CASCADE',
  );
}
