/**
 * The App's own tables, in its own migrations table (`github_app_migrations`), so it migrates the
 * same way inside control's database (mounted) and in a database of its own (standalone). Append
 * only. Control's migration 6 created the first version of these tables before the App owned
 * them; version 1 therefore creates only what is missing and adopts tables already there.
 */
import type { SqlHandle } from '../../contract/src/extension.ts';

export const MIGRATIONS: { version: number; name: string; sql: string }[] = [
  {
    version: 1,
    name: 'deployments and rollouts',
    // Deployments the App created, pushes waiting for their build, and rollouts with who and why.
    // GitHub ids are float8: below 2^53.
    sql: `
CREATE TABLE IF NOT EXISTS github_deployments (
  id serial PRIMARY KEY,
  repository text NOT NULL,
  installation_id float8 NOT NULL,
  environment text NOT NULL,
  commit_sha text NOT NULL,
  ref text NOT NULL,
  deployment_id float8 NOT NULL,
  state text NOT NULL,
  plan jsonb NOT NULL,
  revision integer,
  created_at float8 NOT NULL,
  updated_at float8 NOT NULL
);
CREATE INDEX IF NOT EXISTS github_deployments_commit ON github_deployments (repository, commit_sha);
CREATE INDEX IF NOT EXISTS github_deployments_environment ON github_deployments (repository, environment, id);

CREATE TABLE IF NOT EXISTS github_rollouts (
  id serial PRIMARY KEY,
  repository text NOT NULL,
  environment text NOT NULL,
  revision integer NOT NULL,
  kind text NOT NULL,
  by text NOT NULL,
  reason text NOT NULL,
  at float8 NOT NULL
);
CREATE INDEX IF NOT EXISTS github_rollouts_environment ON github_rollouts (repository, environment, id);
`,
  },
  {
    version: 2,
    name: 'deliveries seen',
    // Ids of the webhook deliveries handled, so a captured delivery replayed (its signature is
    // still valid) does nothing; a delivery whose handling failed is forgotten so GitHub may redeliver.
    sql: `
CREATE TABLE IF NOT EXISTS github_deliveries (
  id text PRIMARY KEY,
  received_at float8 NOT NULL
);
CREATE INDEX IF NOT EXISTS github_deliveries_received ON github_deliveries (received_at);
`,
  },
];

/** Control's migrations hold lock 74201; the App's own lock keeps two App processes apart. */
const LOCK = 74202;

/** Brings the App's tables up to date; safe at every start, from several processes at once. */
export async function migrate(db: SqlHandle): Promise<void> {
  await db.exec(
    'CREATE TABLE IF NOT EXISTS github_app_migrations (version integer PRIMARY KEY, name text NOT NULL)',
  );
  await db.transaction(async (tx) => {
    if (tx.kind === 'postgres') await tx.query(`SELECT pg_advisory_xact_lock(${LOCK})`);
    const done = await tx.query<{ version: number }>('SELECT version FROM github_app_migrations');
    const applied = new Set(done.rows.map((r) => r.version));
    for (const m of MIGRATIONS) {
      if (applied.has(m.version)) continue;
      await tx.exec(m.sql);
      await tx.query('INSERT INTO github_app_migrations (version, name) VALUES ($1, $2)', [
        m.version,
        m.name,
      ]);
    }
  });
}
