/**
 * The deployment ledger in SQL (the App's own tables, migrations.ts), so pushes waiting for a
 * build and the rollout record survive restarts. Each state change is one conditional UPDATE, so
 * two handlers racing for one deployment cannot both move it.
 */
import type { SqlHandle } from '../../contract/src/extension.ts';
import type {
  DeploymentLedger,
  DeploymentRecord,
  DeploymentState,
  NewDeployment,
  RolloutRecord,
} from './deployment-ledger.ts';

const COLUMNS = `id, repository, installation_id, environment, commit_sha, ref, deployment_id, state, plan,
  revision, created_at, updated_at`;

type Row = DeploymentRecord;

const norm = (r: Row): DeploymentRecord => ({
  ...r,
  id: Number(r.id),
  installation_id: Number(r.installation_id),
  deployment_id: Number(r.deployment_id),
  revision: r.revision === null ? null : Number(r.revision),
});

export class SqlLedger implements DeploymentLedger {
  constructor(
    private readonly db: SqlHandle,
    private readonly clock: () => number = Date.now,
  ) {}

  async add(d: NewDeployment): Promise<DeploymentRecord> {
    const now = this.clock();
    const r = await this.db.query<Row>(
      `INSERT INTO github_deployments (repository, installation_id, environment, commit_sha, ref, deployment_id,
         state, plan, created_at, updated_at)
       VALUES ($1,$2,$3,$4,$5,$6,'queued',$7::jsonb,$8,$8) RETURNING ${COLUMNS}`,
      [
        d.repository,
        d.installation_id,
        d.environment,
        d.commit_sha,
        d.ref,
        d.deployment_id,
        JSON.stringify(d.plan),
        now,
      ],
    );
    return norm(r.rows[0]!);
  }

  async get(id: number): Promise<DeploymentRecord | undefined> {
    const r = await this.db.query<Row>(`SELECT ${COLUMNS} FROM github_deployments WHERE id=$1`, [id]);
    return r.rows[0] && norm(r.rows[0]);
  }

  async queuedFor(repository: string, commit: string): Promise<DeploymentRecord[]> {
    const r = await this.db.query<Row>(
      `SELECT ${COLUMNS} FROM github_deployments WHERE repository=$1 AND commit_sha=$2 AND state='queued' ORDER BY id`,
      [repository, commit],
    );
    return r.rows.map(norm);
  }

  async transition(
    id: number,
    from: DeploymentState[],
    to: DeploymentState,
    revision?: number,
  ): Promise<boolean> {
    const r = await this.db.query(
      `UPDATE github_deployments SET state=$3, revision=COALESCE($4, revision), updated_at=$5
       WHERE id=$1 AND state = ANY($2::text[])`,
      [id, from, to, revision ?? null, this.clock()],
    );
    return r.rowCount > 0;
  }

  async supersedeOlder(repository: string, environment: string, id: number): Promise<DeploymentRecord[]> {
    const r = await this.db.query<Row>(
      `UPDATE github_deployments SET state='superseded', updated_at=$4
       WHERE repository=$1 AND environment=$2 AND id < $3::float8 AND state IN ('queued','in_progress')
       RETURNING ${COLUMNS}`,
      [repository, environment, id, this.clock()],
    );
    return r.rows.map(norm).sort((a, b) => a.id - b.id);
  }

  async forEnvironment(repository: string, environment: string): Promise<DeploymentRecord[]> {
    const r = await this.db.query<Row>(
      `SELECT ${COLUMNS} FROM github_deployments WHERE repository=$1 AND environment=$2 ORDER BY id DESC`,
      [repository, environment],
    );
    return r.rows.map(norm);
  }

  async previewHeads(): Promise<DeploymentRecord[]> {
    const r = await this.db.query<Row>(
      `SELECT * FROM (
         SELECT DISTINCT ON (repository, environment) ${COLUMNS} FROM github_deployments
         WHERE environment ~ '^pr-[0-9]+$' ORDER BY repository, environment, id DESC
       ) AS heads WHERE state <> 'inactive' ORDER BY id`,
    );
    return r.rows.map(norm);
  }

  async addRollout(r: RolloutRecord): Promise<void> {
    await this.db.query(
      `INSERT INTO github_rollouts (repository, environment, revision, kind, by, reason, at)
       VALUES ($1,$2,$3,$4,$5,$6,$7)`,
      [r.repository, r.environment, r.revision, r.kind, r.by, r.reason, r.at],
    );
  }

  async lastRollout(repository: string, environment: string): Promise<RolloutRecord | undefined> {
    const r = await this.db.query<RolloutRecord>(
      `SELECT repository, environment, revision, kind, by, reason, at FROM github_rollouts
       WHERE repository=$1 AND environment=$2 ORDER BY id DESC LIMIT 1`,
      [repository, environment],
    );
    return r.rows[0];
  }
}
