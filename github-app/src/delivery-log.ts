/**
 * The webhook deliveries the App has taken, by GitHub's delivery id (`x-github-delivery`). A
 * delivery's signature covers its body only, so anyone who captured one could send it again; the
 * id makes the second copy a no-op. Ids are kept for DELIVERY_RETENTION_MS.
 */
import type { SqlHandle } from '../../contract/src/extension.ts';

/** How long a delivery id is remembered: far past GitHub's own redelivery window. */
export const DELIVERY_RETENTION_MS = 90 * 24 * 3600_000;

export class DeliveryLog {
  constructor(
    private readonly db: SqlHandle,
    private readonly clock: () => number,
  ) {}

  /** True the first time an id is claimed, false for every copy after it. */
  async claim(id: string): Promise<boolean> {
    const r = await this.db.query(
      'INSERT INTO github_deliveries (id, received_at) VALUES ($1, $2) ON CONFLICT (id) DO NOTHING RETURNING id',
      [id, this.clock()],
    );
    return r.rows.length === 1;
  }

  /** Forgets an id whose handling failed, so GitHub's redelivery (same id) is handled. */
  async release(id: string): Promise<void> {
    await this.db.query('DELETE FROM github_deliveries WHERE id = $1', [id]);
  }

  /** Drops ids older than the retention. */
  async prune(): Promise<void> {
    await this.db.query('DELETE FROM github_deliveries WHERE received_at < $1', [
      this.clock() - DELIVERY_RETENTION_MS,
    ]);
  }
}
