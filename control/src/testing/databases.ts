/**
 * The databases a contract suite runs against: PGlite always, PostgreSQL when DATABASE_URL is set
 * (CI sets it). Each open gets a fresh, empty schema so test files never see each other's rows.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, beforeEach } from 'vitest';
import { PgClient } from '../../../sql/src/pg-client.ts';
import { PgliteClient } from '../../../sql/src/pglite-client.ts';
import type { SqlClient } from '../../../sql/src/sql-client.ts';
import { Store } from '../store/store.ts';

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

/** A store suite's handles: valid inside tests and hooks, opened before the first test. */
export interface StoreUnderTest {
  readonly store: Store;
  readonly db: SqlClient;
}

/**
 * Registers the hooks every store suite needs on `target`: a migrated Store on a fresh database,
 * every table emptied before each test (then `reset`, for the suite's own state such as its clock),
 * closed after the last.
 */
export function storeUnderTest(
  target: DatabaseTarget,
  clock: () => number,
  reset?: () => void,
): StoreUnderTest {
  let db: SqlClient | undefined;
  let store: Store | undefined;
  beforeAll(async () => {
    db = await target.open();
    store = new Store(db, clock);
    await store.migrate();
  });
  beforeEach(async () => {
    if (db) await truncateAll(db);
    reset?.();
  });
  afterAll(async () => {
    await store?.close();
  });
  const opened = <T>(v: T | undefined): T => {
    if (v === undefined) throw new Error('the store suite is not open yet: use it inside a test or hook');
    return v;
  };
  return {
    get store() {
      return opened(store);
    },
    get db() {
      return opened(db);
    },
  };
}
