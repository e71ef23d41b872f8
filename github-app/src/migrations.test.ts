/** The App's migrations on a fresh database and on one where control created its tables (migration 6). */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PgClient } from '../../sql/src/pg-client.ts';
import { PgliteClient } from '../../sql/src/pglite-client.ts';
import type { SqlClient } from '../../sql/src/sql-client.ts';
import { MIGRATIONS, migrate } from './migrations.ts';
import { SqlLedger } from './sql-ledger.ts';

// What control's migration 6 created before the App owned its tables, as databases still hold it.
const CONTROL_MIGRATION_6 = `
CREATE TABLE github_deployments (
  id serial PRIMARY KEY, repository text NOT NULL, installation_id float8 NOT NULL,
  environment text NOT NULL, commit_sha text NOT NULL, ref text NOT NULL,
  deployment_id float8 NOT NULL, state text NOT NULL, plan jsonb NOT NULL, revision integer,
  created_at float8 NOT NULL, updated_at float8 NOT NULL
);
CREATE INDEX github_deployments_commit ON github_deployments (repository, commit_sha);
CREATE INDEX github_deployments_environment ON github_deployments (repository, environment, id);
CREATE TABLE github_rollouts (
  id serial PRIMARY KEY, repository text NOT NULL, environment text NOT NULL,
  revision integer NOT NULL, kind text NOT NULL, by text NOT NULL, reason text NOT NULL, at float8 NOT NULL
);
CREATE INDEX github_rollouts_environment ON github_rollouts (repository, environment, id);
`;

const targets: { name: string; open: () => Promise<SqlClient> }[] = [
  { name: 'pglite', open: () => PgliteClient.open(undefined) },
];
const url = process.env.DATABASE_URL;
if (url) {
  targets.push({
    name: 'postgres',
    open: () => PgClient.open(url, { schema: `m_${randomBytes(6).toString('hex')}` }),
  });
}

describe.each(targets)('the App migrating on $name', (target) => {
  let db: SqlClient;
  beforeAll(async () => {
    db = await target.open();
  });
  afterAll(async () => {
    await db?.close();
  });

  it('adopts the tables control created, keeping a push that waits for its build', async () => {
    await db.exec(CONTROL_MIGRATION_6);
    await db.query(
      `INSERT INTO github_deployments (repository, installation_id, environment, commit_sha, ref,
         deployment_id, state, plan, created_at, updated_at)
       VALUES ('acme/app', 9, 'production', 'abc', 'refs/heads/main', 7, 'queued', '{}', 1, 1)`,
    );
    await migrate(db);
    await migrate(db); // every start migrates; the second is a no-op
    const ledger = new SqlLedger(db, () => 2);
    expect((await ledger.queuedFor('acme/app', 'abc')).map((d) => d.deployment_id)).toEqual([7]);
    const added = await ledger.add({
      repository: 'acme/app',
      installation_id: 9,
      environment: 'production',
      commit_sha: 'def',
      ref: 'refs/heads/main',
      deployment_id: 8,
      plan: { owner: 'acme', app: 'app', auth: 'private', code: {}, scaling: {}, message: 'm', by: 'u' },
    });
    expect(added.id).toBeGreaterThan(1);
    const versions = await db.query<{ version: number }>('SELECT version FROM github_app_migrations');
    expect(versions.rows.map((r) => r.version)).toEqual(MIGRATIONS.map((m) => m.version));
  });
});
