/** One contract for both ledgers: in memory, and SQL on PGlite (and PostgreSQL when DATABASE_URL is set). */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PgClient } from '../../sql/src/pg-client.ts';
import { PgliteClient } from '../../sql/src/pglite-client.ts';
import type { SqlClient } from '../../sql/src/sql-client.ts';
import { type DeploymentLedger, MemoryLedger, type NewDeployment } from './deployment-ledger.ts';
import { migrate } from './migrations.ts';
import { SqlLedger } from './sql-ledger.ts';

const clients: SqlClient[] = [];
afterAll(async () => {
  for (const c of clients) await c.close();
});

async function sql(open: () => Promise<SqlClient>, clock: () => number): Promise<DeploymentLedger> {
  const db = await open();
  clients.push(db);
  await migrate(db);
  return new SqlLedger(db, clock);
}

const kinds: [string, (clock: () => number) => Promise<DeploymentLedger>][] = [
  ['memory', async (clock) => new MemoryLedger(clock)],
  ['pglite', (clock) => sql(() => PgliteClient.open(undefined), clock)],
];
if (process.env.DATABASE_URL) {
  const url = process.env.DATABASE_URL;
  kinds.push([
    'postgres',
    (clock) => sql(() => PgClient.open(url, { schema: `l_${randomBytes(6).toString('hex')}` }), clock),
  ]);
}

const dep = (environment: string, commit: string, deployment_id: number): NewDeployment => ({
  repository: 'acme/app',
  installation_id: 9,
  environment,
  commit_sha: commit,
  ref: 'refs/heads/main',
  deployment_id,
  plan: { owner: 'acme', app: 'app', auth: 'private', code: {}, scaling: {}, message: 'm', by: 'u' },
});

describe.each(kinds)('%s ledger', (_name, make) => {
  const now = { t: 1000 };
  let l: DeploymentLedger;
  // Opening an embedded database is slow on a loaded machine: a hook, with the hook's timeout.
  beforeAll(async () => {
    l = await make(() => now.t);
  });

  it('queues, claims once, supersedes older unfinished deployments, keeps rollouts', async () => {
    const a = await l.add(dep('production', 'a', 1));
    const b = await l.add(dep('production', 'b', 2));
    const p = await l.add(dep('pr-3', 'c', 3));
    expect(a).toMatchObject({ state: 'queued', revision: null, deployment_id: 1, installation_id: 9 });
    expect((await l.queuedFor('acme/app', 'a')).map((d) => d.id)).toEqual([a.id]);
    expect(await l.transition(a.id, ['queued'], 'in_progress')).toBe(true);
    expect(await l.transition(a.id, ['queued'], 'in_progress')).toBe(false);
    const superseded = await l.supersedeOlder('acme/app', 'production', b.id);
    expect(superseded.map((d) => d.id)).toEqual([a.id]);
    expect((await l.get(a.id))?.state).toBe('superseded');
    expect(await l.transition(b.id, ['queued'], 'success', 4)).toBe(true);
    expect(await l.get(b.id)).toMatchObject({ state: 'success', revision: 4 });
    expect((await l.forEnvironment('acme/app', 'production')).map((d) => d.id)).toEqual([b.id, a.id]);
    expect((await l.previewHeads()).map((d) => d.id)).toEqual([p.id]);
    await l.transition(p.id, ['queued'], 'inactive');
    expect(await l.previewHeads()).toEqual([]);
    await l.addRollout({
      repository: 'acme/app',
      environment: 'production',
      revision: 4,
      kind: 'push',
      by: 'u',
      reason: 'r',
      at: 5,
    });
    await l.addRollout({
      repository: 'acme/app',
      environment: 'production',
      revision: 3,
      kind: 'rollback',
      by: 'v',
      reason: 's',
      at: 6,
    });
    expect(await l.lastRollout('acme/app', 'production')).toEqual({
      repository: 'acme/app',
      environment: 'production',
      revision: 3,
      kind: 'rollback',
      by: 'v',
      reason: 's',
      at: 6,
    });
    expect(await l.lastRollout('acme/app', 'staging')).toBeUndefined();
  });
});
