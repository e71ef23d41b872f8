/**
 * Idempotency keys of submits (`Idempotency-Key`): per environment, the request a key made and a
 * fingerprint of what was submitted with it, for IDEMPOTENCY_KEY_TTL_MS.
 */
import type { SqlClient } from '../../../sql/src/sql-client.ts';

/** How long a key keeps naming its request; a retry after that makes a new one. */
export const IDEMPOTENCY_KEY_TTL_MS = 24 * 3600_000;

export interface IdempotentSubmit {
  requestId: string;
  fingerprint: string;
}

/** Another submit with the same key committed first. */
export class IdempotencyKeyTaken extends Error {
  override readonly name = 'IdempotencyKeyTaken';
}

export class IdempotencyStore {
  constructor(
    private readonly db: SqlClient,
    private readonly clock: () => number,
  ) {}

  /** The live submit made with this key, if any. */
  async find(envId: string, key: string): Promise<IdempotentSubmit | undefined> {
    const r = await this.db.query<{ request_id: string; fingerprint: string }>(
      'SELECT request_id, fingerprint FROM idempotency_keys WHERE environment_id=$1 AND key=$2 AND created_at >= $3',
      [envId, key, this.clock() - IDEMPOTENCY_KEY_TTL_MS],
    );
    const row = r.rows[0];
    return row && { requestId: row.request_id, fingerprint: row.fingerprint };
  }

  /** Records the key for a request; an expired use of it is replaced. Throws IdempotencyKeyTaken if it is live. */
  async remember(envId: string, key: string, fingerprint: string, requestId: string): Promise<void> {
    const now = this.clock();
    const r = await this.db.query(
      `INSERT INTO idempotency_keys (environment_id, key, fingerprint, request_id, created_at)
       VALUES ($1, $2, $3, $4, $5)
       ON CONFLICT (environment_id, key) DO UPDATE
         SET fingerprint = EXCLUDED.fingerprint, request_id = EXCLUDED.request_id, created_at = EXCLUDED.created_at
         WHERE idempotency_keys.created_at < $6
       RETURNING key`,
      [envId, key, fingerprint, requestId, now, now - IDEMPOTENCY_KEY_TTL_MS],
    );
    if (r.rows.length === 0) throw new IdempotencyKeyTaken(key);
  }

  /** Deletes keys past their time (the retention sweep); `find` already ignores them. Returns how many. */
  async pruneExpired(): Promise<number> {
    const r = await this.db.query('DELETE FROM idempotency_keys WHERE created_at < $1', [
      this.clock() - IDEMPOTENCY_KEY_TTL_MS,
    ]);
    return r.rowCount;
  }

  /** Frees the keys of requests that were failed before they ran, so a retry with the key runs. */
  async forgetRequests(requestIds: string[]): Promise<void> {
    if (requestIds.length === 0) return;
    await this.db.query('DELETE FROM idempotency_keys WHERE request_id = ANY($1::text[])', [requestIds]);
  }
}
