/**
 * Webhook deliveries (fal_webhook). Rows are made by the requests slice in the statement that
 * completes a request; this slice leases, records and reads them.
 */
import type { SqlClient } from '../../../sql/src/sql-client.ts';
import type { RequestRecord } from '../domain.ts';

/** A webhook due for delivery, with what its body is made of. */
export interface DueWebhook {
  request_id: string;
  url: string;
  attempts: number;
  created_at: number;
  owner: string;
  status: RequestRecord['status'];
  result_status: number | null;
  result_body: unknown;
  error: string | null;
  error_type: string | null;
}

export class WebhooksStore {
  constructor(
    private readonly db: SqlClient,
    private readonly clock: () => number,
  ) {}

  /**
   * Takes up to `limit` deliveries that are due, hiding them for `leaseMs` so another control
   * process sharing the database does not send them at the same time.
   */
  async takeDue(limit: number, leaseMs: number): Promise<DueWebhook[]> {
    const now = this.clock();
    const r = await this.db.query<DueWebhook>(
      `WITH picked AS (
         SELECT request_id FROM webhook_deliveries
         WHERE delivered_at IS NULL AND given_up_at IS NULL AND next_at <= $1
         ORDER BY next_at LIMIT $2 FOR UPDATE SKIP LOCKED),
       taken AS (
         UPDATE webhook_deliveries w SET next_at = $3 FROM picked WHERE w.request_id = picked.request_id
         RETURNING w.request_id, w.url, w.attempts, w.created_at)
       SELECT t.*, a.owner, r.status, r.result_status, r.result_body, r.error, r.error_type
       FROM taken t JOIN requests r ON r.id = t.request_id
         JOIN environments e ON e.id = r.environment_id JOIN apps a ON a.id = e.app_id`,
      [now, limit, now + leaseMs],
    );
    return r.rows;
  }

  async delivered(requestId: string): Promise<void> {
    await this.db.query(
      'UPDATE webhook_deliveries SET delivered_at=$2, attempts=attempts+1, last_error=NULL WHERE request_id=$1',
      [requestId, this.clock()],
    );
  }

  /** A failed delivery: tried again at `nextAt`, or given up when that is null. */
  async failed(requestId: string, error: string, nextAt: number | null): Promise<void> {
    await this.db.query(
      `UPDATE webhook_deliveries SET attempts=attempts+1, last_error=$2,
         next_at=COALESCE($3::float8, next_at),
         given_up_at=CASE WHEN $3::float8 IS NULL THEN $4::float8 ELSE NULL END
       WHERE request_id=$1`,
      [requestId, error.slice(0, 2000), nextAt, this.clock()],
    );
  }

  async get(
    requestId: string,
  ): Promise<
    | { attempts: number; delivered_at: number | null; given_up_at: number | null; last_error: string | null }
    | undefined
  > {
    const r = await this.db.query<{
      attempts: number;
      delivered_at: number | null;
      given_up_at: number | null;
      last_error: string | null;
    }>('SELECT attempts, delivered_at, given_up_at, last_error FROM webhook_deliveries WHERE request_id=$1', [
      requestId,
    ]);
    return r.rows[0];
  }
}
