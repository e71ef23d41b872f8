/**
 * Control processes sharing the database. Each one registers at start and says it is alive on
 * every scaler tick; one that has not been heard of for a while is gone, and the runners it
 * started are adopted by whichever control starts (or reconciles their environment) next.
 */
import type { SqlClient } from '../../../sql/src/sql-client.ts';

export class ControlsStore {
  constructor(
    private readonly db: SqlClient,
    private readonly clock: () => number,
  ) {}

  /** Registers this process, or says it is still alive. */
  async beat(id: string): Promise<void> {
    const now = this.clock();
    await this.db.query(
      `INSERT INTO controls (id, started_at, seen_at) VALUES ($1, $2, $2)
       ON CONFLICT (id) DO UPDATE SET seen_at = EXCLUDED.seen_at`,
      [id, now],
    );
  }

  /** This process stops: it no longer owns anything. */
  async leave(id: string): Promise<void> {
    await this.db.query('DELETE FROM controls WHERE id=$1', [id]);
  }

  /** Controls heard of within `withinMs`, other than `except`. */
  async othersAlive(except: string, withinMs: number): Promise<string[]> {
    const r = await this.db.query<{ id: string }>('SELECT id FROM controls WHERE id<>$1 AND seen_at >= $2', [
      except,
      this.clock() - withinMs,
    ]);
    return r.rows.map((row) => row.id);
  }

  /**
   * Takes over the live runners whose control is gone (or unknown): they keep serving, and `to`
   * now answers for them. Forgets controls long gone. Returns the ids taken over.
   */
  async adoptOrphans(to: string, aliveWithinMs: number): Promise<string[]> {
    const since = this.clock() - aliveWithinMs;
    const r = await this.db.query<{ id: string }>(
      `UPDATE runners SET control_id=$1
       WHERE ended_at IS NULL AND (control_id IS NULL OR control_id NOT IN
         (SELECT id FROM controls WHERE seen_at >= $2))
         AND control_id IS DISTINCT FROM $1
       RETURNING id`,
      [to, since],
    );
    await this.db.query('DELETE FROM controls WHERE seen_at < $1 AND id<>$2', [since, to]);
    return r.rows.map((row) => row.id);
  }

  /**
   * Takes the right to reconcile an environment for `ttlMs`, unless another control holds it.
   * A lease, not a lock held on a connection: a control that dies loses it when it runs out.
   */
  async tryLease(envId: string, holder: string, ttlMs: number): Promise<boolean> {
    const now = this.clock();
    const r = await this.db.query(
      `INSERT INTO environment_leases (environment_id, holder, until) VALUES ($1,$2,$3)
       ON CONFLICT (environment_id) DO UPDATE SET holder=EXCLUDED.holder, until=EXCLUDED.until
       WHERE environment_leases.holder=$2 OR environment_leases.until < $4
       RETURNING environment_id`,
      [envId, holder, now + ttlMs, now],
    );
    return r.rowCount > 0;
  }

  async releaseLease(envId: string, holder: string): Promise<void> {
    await this.db.query('DELETE FROM environment_leases WHERE environment_id=$1 AND holder=$2', [
      envId,
      holder,
    ]);
  }
}
