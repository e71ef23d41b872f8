/** Rollouts from one revision to another: at most one in progress per environment. */
import { randomUUID } from 'node:crypto';
import type { SqlClient } from '../../../sql/src/sql-client.ts';
import type { RolloutRecord, RolloutState, RolloutStrategy } from '../domain.ts';

export class RolloutsStore {
  constructor(
    private readonly db: SqlClient,
    private readonly clock: () => number,
    /** Told when a finished rollout switched an environment's active revision (app-lookup-cache.ts). */
    private readonly environmentsChanged: () => void = () => {},
  ) {}

  /**
   * Records a new rollout. One rollout is in progress per environment at a time: any other open
   * one is marked superseded in the same transaction, and returned so its candidate can go.
   */
  async create(r: {
    environment_id: string;
    from_revision_id: string | null;
    to_revision_id: string;
    strategy: RolloutStrategy;
    restart: boolean;
    reason: string | null;
    created_by: string | null;
  }): Promise<{ rollout: RolloutRecord; superseded: RolloutRecord[] }> {
    const now = this.clock();
    return this.db.transaction(async (tx) => {
      await tx.query('SELECT id FROM environments WHERE id=$1 FOR UPDATE', [r.environment_id]);
      const superseded = await tx.query<RolloutRecord>(
        `UPDATE rollouts SET state='superseded', ended_at=$2, detail='a newer rollout replaced it'
         WHERE environment_id=$1 AND state='in_progress' RETURNING *`,
        [r.environment_id, now],
      );
      const created = await tx.query<RolloutRecord>(
        `INSERT INTO rollouts (id, environment_id, from_revision_id, to_revision_id, strategy, restart, state,
           reason, created_by, created_at)
         VALUES ($1,$2,$3,$4,$5,$6,'in_progress',$7,$8,$9) RETURNING *`,
        [
          randomUUID(),
          r.environment_id,
          r.from_revision_id,
          r.to_revision_id,
          r.strategy,
          r.restart,
          r.reason,
          r.created_by,
          now,
        ],
      );
      return { rollout: created.rows[0]!, superseded: superseded.rows };
    });
  }

  async getOpen(envId: string): Promise<RolloutRecord | undefined> {
    const r = await this.db.query<RolloutRecord>(
      `SELECT * FROM rollouts WHERE environment_id=$1 AND state='in_progress' ORDER BY created_at DESC LIMIT 1`,
      [envId],
    );
    return r.rows[0];
  }

  async get(id: string): Promise<RolloutRecord | undefined> {
    return (await this.db.query<RolloutRecord>('SELECT * FROM rollouts WHERE id=$1', [id])).rows[0];
  }

  async list(envId: string, limit: number): Promise<RolloutRecord[]> {
    const r = await this.db.query<RolloutRecord>(
      'SELECT * FROM rollouts WHERE environment_id=$1 ORDER BY created_at DESC LIMIT $2',
      [envId, limit],
    );
    return r.rows;
  }

  async setCandidate(id: string, runnerId: string): Promise<void> {
    await this.db.query('UPDATE rollouts SET candidate_runner_id=$2 WHERE id=$1', [id, runnerId]);
  }

  /**
   * Ends an in-progress rollout. `completed` also switches the environment's active revision, in the
   * same transaction, so the record and the switch cannot disagree. False when it was no longer open.
   */
  async end(
    id: string,
    state: Exclude<RolloutState, 'in_progress'>,
    detail: string | null,
  ): Promise<boolean> {
    const now = this.clock();
    const switched = await this.db.transaction(async (tx) => {
      const r = await tx.query<RolloutRecord>(
        `UPDATE rollouts SET state=$2, detail=COALESCE($3, detail), ended_at=$4,
           switched_at = CASE WHEN $2='completed' THEN $4 ELSE switched_at END
         WHERE id=$1 AND state='in_progress' RETURNING *`,
        [id, state, detail, now],
      );
      const row = r.rows[0];
      if (!row) return false;
      if (state === 'completed') {
        await tx.query('UPDATE environments SET active_revision_id=$2 WHERE id=$1', [
          row.environment_id,
          row.to_revision_id,
        ]);
      }
      return true;
    });
    // Committed: lookups kept from before the switch must not serve the old revision.
    if (switched && state === 'completed') this.environmentsChanged();
    return switched;
  }

  /** Environments serving a revision with automatic rollback on (auto_rollback_error_rate above 0). */
  async watchedForAutoRollback(): Promise<string[]> {
    const r = await this.db.query<{ id: string }>(
      `SELECT id FROM environments WHERE active_revision_id IS NOT NULL
         AND COALESCE((scaling->>'auto_rollback_error_rate')::float8, 0) > 0`,
    );
    return r.rows.map((row) => row.id);
  }

  /**
   * How a revision's requests ended since it went live: answered in all, and failed (a 5xx: the
   * app's, a crash, a timeout). Requests no runner took count too (they failed waiting for it).
   */
  async outcomesSince(
    envId: string,
    revisionId: string,
    since: number,
  ): Promise<{ total: number; failed: number }> {
    const r = await this.db.query<{ total: number; failed: number }>(
      `SELECT COUNT(*)::int AS total, COUNT(*) FILTER (WHERE q.result_status >= 500)::int AS failed
       FROM requests q LEFT JOIN runners u ON u.id = q.runner_id
       WHERE q.environment_id=$1 AND q.status='COMPLETED' AND q.completed_at >= $3
         AND (q.runner_id IS NULL OR u.revision_id = $2)
         AND COALESCE(q.error_type, '') <> 'client_cancelled'`,
      [envId, revisionId, since],
    );
    const row = r.rows[0];
    return { total: Number(row?.total ?? 0), failed: Number(row?.failed ?? 0) };
  }
}
