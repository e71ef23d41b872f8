/**
 * Requests and their attempts and results: the request path's hot statements (start an attempt,
 * complete) live here, each one statement.
 *
 * Exactly-once rule: a request moves to COMPLETED in one conditional UPDATE; whoever loses that
 * race learns it from the return value and changes nothing.
 */
import { randomUUID } from 'node:crypto';
import { GantryError } from '../../../contract/src/errors.ts';
import type { SqlClient } from '../../../sql/src/sql-client.ts';
import type { Priority, RequestRecord } from '../domain.ts';
import { MAX_ATTEMPTS } from '../retry-policy.ts';
import { jsonb } from './jsonb.ts';

export interface NewRequest {
  environment_id: string;
  path: string;
  /** The input as JSON, for requests control makes itself; callers' inputs come as `input_raw`. */
  input?: unknown;
  /** The input's bytes as the caller sent them, with their content type. */
  input_raw?: Uint8Array;
  input_content_type?: string;
  runner_hint?: string | null;
  priority: Priority;
  no_retry: boolean;
  start_deadline: number | null;
  key_id?: string | null;
  /** fal_webhook: where the outcome is POSTed once the request completes. */
  webhook_url?: string | null;
}

/** Where the embedded queue keeps a request's message (see QueueDriver.storedSend). */
export interface StoredSend {
  queue: string;
  /** The queue's rank: 0 normal, 1 low. */
  priority: number;
  visibleAt: number;
}

export interface Completion {
  result_status: number;
  /** The result as JSON, when control composes it (errors), or for the webhook of an app's answer. */
  result_body: unknown;
  /** The app's answer byte for byte: what callers get back. */
  result_raw?: Uint8Array | null;
  result_content_type: string | null;
  error: string | null;
  error_type: string | null;
  inference_ms: number | null;
  /** Out of attempts: its message went to the dead-letter queue. */
  dead_lettered?: boolean;
}

/**
 * Completing a request and queueing its webhook are one statement: a request that completes has
 * its delivery row, and the primary key on request_id makes a second one impossible.
 */
/** Why a request a crash left without its queue message was failed. */
export const UNENQUEUED_MESSAGE =
  'Control stopped before the queue took this request, so it never ran; submit it again.';

const WITH_WEBHOOK = (update: string, now: string, more = '') => `
  WITH done AS (${update} RETURNING *),
  hook AS (
    INSERT INTO webhook_deliveries (request_id, url, next_at, created_at)
    SELECT id, webhook_url, ${now}, ${now} FROM done WHERE webhook_url IS NOT NULL
    ON CONFLICT (request_id) DO NOTHING)${more}
  SELECT * FROM done`;

/** Normal requests are taken before low-priority ones. */
const PRIORITY_RANK = `(CASE priority WHEN 'normal' THEN 0 ELSE 1 END)`;

const CANCELLED = new GantryError('GANTRY_ERR_REQUEST_CANCELLED');

export const START_TIMEOUT_MESSAGE = 'The request did not start before its x-fal-request-timeout.';

export class RequestsStore {
  constructor(
    private readonly db: SqlClient,
    private readonly clock: () => number,
  ) {}

  /**
   * `message`: the embedded queue's row for it (QueueDriver.storedSend), inserted by the same
   * statement, so the request and its message exist together or not at all without a transaction.
   */
  async create(req: NewRequest, message?: StoredSend): Promise<RequestRecord> {
    const insert = `INSERT INTO requests (id, environment_id, path, input, status, priority, no_retry, start_deadline, created_at,
         key_id, webhook_url, input_raw, input_content_type, runner_hint)
       VALUES ($1,$2,$3,$4::jsonb,'IN_QUEUE',$5,$6,$7,$8,$9,$10,$11,$12,$13) RETURNING *`;
    const r = await this.db.query<RequestRecord>(
      message
        ? // The message body is the queue's: the request id, and the runner hint when there is one.
          `WITH r AS (${insert}),
           m AS (INSERT INTO queue_messages (queue, priority, body, visible_at, created_at)
             SELECT $14, $15, jsonb_build_object('request_id', id) || CASE WHEN runner_hint <> ''
               THEN jsonb_build_object('hint', runner_hint) ELSE '{}'::jsonb END, $16::float8, $16::float8 FROM r)
           SELECT * FROM r`
        : insert,
      [
        randomUUID(),
        req.environment_id,
        req.path,
        req.input_raw ? null : jsonb(req.input ?? null),
        req.priority,
        req.no_retry,
        req.start_deadline,
        this.clock(),
        req.key_id ?? null,
        req.webhook_url ?? null,
        req.input_raw ?? null,
        req.input_raw ? (req.input_content_type ?? 'application/json') : null,
        req.runner_hint ?? null,
        ...(message ? [message.queue, message.priority, message.visibleAt] : []),
      ],
    );
    return r.rows[0]!;
  }

  /** SQS took the request's message. */
  async markEnqueued(id: string): Promise<void> {
    await this.db.query('UPDATE requests SET enqueued_at=$2 WHERE id=$1', [id, this.clock()]);
  }

  /**
   * Fails the requests a crash left without a queue message (SQS: the row was written, the send
   * never confirmed) once `olderThanMs` passed: they would otherwise wait for ever, count toward
   * fal_max_queue_length and keep their environment from scaling to zero. Failing is safe even if
   * the message was sent after all: a completed request never starts.
   */
  async failUnenqueued(olderThanMs: number): Promise<RequestRecord[]> {
    const now = this.clock();
    const r = await this.db.query<RequestRecord>(
      WITH_WEBHOOK(
        `UPDATE requests SET status='COMPLETED', result_status=503, result_body=$2::jsonb,
           result_content_type='application/json', error=$3, error_type='internal_error', completed_at=$1
         WHERE status='IN_QUEUE' AND attempts=0 AND enqueued_at IS NULL AND created_at < $4`,
        '$1::float8',
      ),
      [now, JSON.stringify({ detail: UNENQUEUED_MESSAGE }), UNENQUEUED_MESSAGE, now - olderThanMs],
    );
    return r.rows;
  }

  /** Removes a request that never made it onto the queue, so no half-made record is left behind. */
  async discard(id: string): Promise<void> {
    await this.db.query(`DELETE FROM requests WHERE id=$1 AND status='IN_QUEUE'`, [id]);
  }

  async get(id: string): Promise<RequestRecord | undefined> {
    return (await this.db.query<RequestRecord>('SELECT * FROM requests WHERE id=$1', [id])).rows[0];
  }

  async list(envId: string, limit: number): Promise<RequestRecord[]> {
    const r = await this.db.query<RequestRecord>(
      'SELECT * FROM requests WHERE environment_id=$1 ORDER BY created_at DESC LIMIT $2',
      [envId, limit],
    );
    return r.rows;
  }

  /**
   * Starts an attempt in one statement, with the environment's request_timeout (seconds) beside it.
   * Undefined when the request completed meanwhile (cancelled, or done elsewhere) or, on a first
   * attempt, when its start deadline has passed: the caller looks at the request to tell which.
   */
  async startAttempt(
    id: string,
    runnerId: string,
    /** The runner's environment: a runner never starts another environment's request. */
    environmentId?: string,
    /**
     * The delivery that asks (its queue receipt) and how long the attempt is held without a
     * heartbeat: while a hold lasts, another delivery of the request starts nothing.
     */
    hold?: { receipt: string; ms: number },
  ): Promise<(RequestRecord & { request_timeout: number | null }) | undefined> {
    const now = this.clock();
    const r = await this.db.query<RequestRecord & { request_timeout: number | null }>(
      `UPDATE requests r SET status='IN_PROGRESS', attempts=r.attempts+1, runner_id=$2, started_at=$3,
         claim_receipt=$5, held_until=$6
       FROM environments e
       WHERE r.id=$1 AND e.id=r.environment_id AND r.status <> 'COMPLETED'
         AND ($4::text IS NULL OR r.environment_id = $4)
         -- A second delivery of a request whose attempt is still held (the queue's visibility ran
         -- out under a live holder, or a message was sent twice): not a lost runner, so no retry.
         AND NOT (r.status = 'IN_PROGRESS' AND r.held_until IS NOT NULL AND r.held_until >= $3
           AND r.claim_receipt IS DISTINCT FROM $5)
         -- fal's start timeout caps all waiting, retries included: past it, no attempt starts.
         AND (r.start_deadline IS NULL OR r.start_deadline >= $3)
         -- Redelivered while still IN_PROGRESS: its last attempt's runner was lost (a crash). That
         -- is retried only within fal's rules; otherwise the caller completes it instead.
         AND NOT (r.status = 'IN_PROGRESS' AND (r.no_retry OR r.attempts >= ${MAX_ATTEMPTS}))
         -- Drain is a promise: once a runner was told to drain (or ended, or its revision was
         -- replaced), nothing starts on it, whatever a cached pull gate said a moment ago.
         AND NOT EXISTS (
           SELECT 1 FROM runners rn WHERE rn.id = $2 AND (rn.drain_requested OR rn.ended_at IS NOT NULL
             OR (e.active_revision_id IS NOT NULL AND e.active_revision_id <> rn.revision_id)))
       RETURNING r.*, (e.scaling->>'request_timeout')::float8 AS request_timeout`,
      [id, runnerId, now, environmentId ?? null, hold?.receipt ?? null, hold ? now + hold.ms : null],
    );
    return r.rows[0];
  }

  /**
   * The holder's heartbeat: its attempts started from these receipts stay held for `ms` more.
   * A receipt it no longer holds (another delivery started a new attempt) matches nothing.
   */
  async extendHolds(runnerId: string, receipts: string[], ms: number): Promise<void> {
    if (receipts.length === 0) return;
    await this.db.query(
      `UPDATE requests SET held_until=$3 WHERE runner_id=$1 AND status='IN_PROGRESS'
         AND claim_receipt = ANY($2::text[])`,
      [runnerId, receipts, this.clock() + ms],
    );
  }

  /** Puts an in-progress request back in the queue state after a failed attempt. */
  async requeue(id: string, runnerId?: string): Promise<void> {
    await this.db.query(
      `UPDATE requests SET status='IN_QUEUE', runner_id=NULL
       WHERE id=$1 AND status='IN_PROGRESS' AND ($2::text IS NULL OR runner_id = $2)`,
      [id, runnerId ?? null],
    );
  }

  /**
   * Completes a request once. Returns the completed record, or undefined if it was already complete
   * (or, with `runnerId`, if that runner no longer holds the attempt).
   */
  async complete(
    id: string,
    c: Completion,
    runnerId?: string,
    /**
     * The embedded queue's message of this attempt (QueueDriver.storedMessage): deleted by the same
     * statement, and only when the request completes here.
     */
    message?: { id: string; secret: string },
  ): Promise<RequestRecord | undefined> {
    const r = await this.db.query<RequestRecord>(
      WITH_WEBHOOK(
        // The decoded body is kept only where something reads it: a webhook's payload, or a result
        // control composed itself (there are no bytes then).
        `UPDATE requests SET status='COMPLETED', result_status=$2,
           result_body=CASE WHEN $11::bytea IS NULL OR webhook_url IS NOT NULL THEN $3::jsonb END,
           result_raw=$11, result_content_type=$4,
           -- A caller cancelled it while it ran and it did not succeed: that is the caller's
           -- doing, as for a request cancelled while queued, whatever the app answered.
           error_type = CASE WHEN cancel_requested AND $2 >= 400 THEN 'client_cancelled' ELSE $6 END,
           error=$5, inference_ms=$7, completed_at=$8, dead_lettered=$10
         WHERE id=$1 AND status <> 'COMPLETED' AND ($9::text IS NULL OR runner_id = $9)`,
        '$8::float8',
        message
          ? `, gone AS (DELETE FROM queue_messages WHERE id=$12::bigint AND receipt_secret=$13
               AND EXISTS (SELECT 1 FROM done))`
          : '',
      ),
      [
        id,
        c.result_status,
        c.result_raw && c.result_body === undefined ? null : jsonb(c.result_body ?? null),
        c.result_content_type,
        c.error,
        c.error_type,
        c.inference_ms,
        this.clock(),
        runnerId ?? null,
        c.dead_lettered ?? false,
        c.result_raw ?? null,
        ...(message ? [message.id, message.secret] : []),
      ],
    );
    return r.rows[0];
  }

  /**
   * Retention: empties the input and result and deletes the logs of every request completed more
   * than `seconds` ago, marking it expired so reads answer 410. Returns how many it emptied.
   */
  async expireRetained(seconds: number): Promise<number> {
    // An environment's own `retention` setting wins; 0 or unset is control's (`seconds`).
    const r = await this.db.query<{ id: string }>(
      `WITH gone AS (
         UPDATE requests r SET input=NULL, input_raw=NULL, result_body=NULL, result_raw=NULL, expired_at=$1
         FROM environments e
         WHERE e.id = r.environment_id AND r.status = 'COMPLETED' AND r.expired_at IS NULL
           AND r.completed_at < $1 - COALESCE(NULLIF((e.scaling->>'retention')::float8, 0), $2::float8) * 1000
         RETURNING r.id AS id),
       logs AS (DELETE FROM request_logs WHERE request_id IN (SELECT id FROM gone))
       SELECT id FROM gone`,
      [this.clock(), seconds],
    );
    return r.rows.length;
  }

  /**
   * Completes every queued request of any environment whose x-fal-request-timeout passed before it
   * started (504, `request_timeout`): it will never run later. Returns those it completed.
   */
  async expireStartDeadlines(): Promise<RequestRecord[]> {
    const r = await this.db.query<RequestRecord>(
      WITH_WEBHOOK(
        `UPDATE requests SET status='COMPLETED', result_status=504, result_body=$2::jsonb,
           result_content_type='application/json', error=$3, error_type='request_timeout', completed_at=$1
         WHERE status='IN_QUEUE' AND start_deadline IS NOT NULL AND start_deadline < $1`,
        '$1::float8',
      ),
      [this.clock(), JSON.stringify({ detail: START_TIMEOUT_MESSAGE }), START_TIMEOUT_MESSAGE],
    );
    return r.rows;
  }

  /**
   * Completes the queued requests of an environment submitted before `submittedBefore` with a
   * failure of Gantry's (no runner of its revision can serve them); returns those it completed.
   * Their queue messages are dropped when next received, as for a cancel.
   */
  async failQueued(
    envId: string,
    submittedBefore: number,
    f: { status: number; error: string; error_type: string },
  ): Promise<RequestRecord[]> {
    const r = await this.db.query<RequestRecord>(
      WITH_WEBHOOK(
        `UPDATE requests SET status='COMPLETED', result_status=$3, result_body=$4::jsonb,
           result_content_type='application/json', error=$5, error_type=$6, completed_at=$1
         WHERE environment_id=$2 AND status='IN_QUEUE' AND created_at < $7`,
        '$1::float8',
      ),
      [
        this.clock(),
        envId,
        f.status,
        JSON.stringify({ detail: f.error }),
        f.error,
        f.error_type,
        submittedBefore,
      ],
    );
    return r.rows;
  }

  /** Requests a runner is serving whose caller asked to cancel them. */
  async cancelRequestedFor(runnerId: string): Promise<string[]> {
    const r = await this.db.query<{ id: string }>(
      `SELECT id FROM requests WHERE runner_id=$1 AND status='IN_PROGRESS' AND cancel_requested`,
      [runnerId],
    );
    return r.rows.map((x) => x.id);
  }

  /** Who holds each of these requests now, for heartbeats: status, runner and whether cancel was asked. */
  async attemptHolders(
    ids: string[],
  ): Promise<
    { id: string; status: RequestRecord['status']; runner_id: string | null; cancel_requested: boolean }[]
  > {
    if (ids.length === 0) return [];
    const r = await this.db.query<{
      id: string;
      status: RequestRecord['status'];
      runner_id: string | null;
      cancel_requested: boolean;
    }>('SELECT id, status, runner_id, cancel_requested FROM requests WHERE id = ANY($1::text[])', [ids]);
    return r.rows;
  }

  /** Requests that ran out of attempts and were dead-lettered, newest first. */
  async listDeadLettered(envId: string, limit: number): Promise<RequestRecord[]> {
    const r = await this.db.query<RequestRecord>(
      `SELECT * FROM requests WHERE environment_id=$1 AND dead_lettered ORDER BY completed_at DESC LIMIT $2`,
      [envId, limit],
    );
    return r.rows;
  }

  /**
   * Cancels a request: a queued one completes at once (it will never run); an in-progress one is
   * flagged so its runner tells the app. Returns the status the request had.
   */
  async cancel(id: string): Promise<'IN_QUEUE' | 'IN_PROGRESS' | 'COMPLETED' | undefined> {
    const queued = await this.db.query(
      WITH_WEBHOOK(
        `UPDATE requests SET status='COMPLETED', cancel_requested=true, result_status=400, error=$2,
           error_type='client_cancelled', completed_at=$3, result_content_type='application/json',
           result_body=$4::jsonb
         WHERE id=$1 AND status='IN_QUEUE'`,
        '$3::float8',
      ),
      [id, CANCELLED.message, this.clock(), JSON.stringify(CANCELLED.toBody())],
    );
    if (queued.rows.length > 0) return 'IN_QUEUE';
    const running = await this.db.query(
      `UPDATE requests SET cancel_requested=true WHERE id=$1 AND status='IN_PROGRESS'`,
      [id],
    );
    if (running.rowCount > 0) return 'IN_PROGRESS';
    return (await this.get(id))?.status === 'COMPLETED' ? 'COMPLETED' : undefined;
  }

  /**
   * Flushes an environment's queue: every request still queued completes as cancelled, in one
   * statement, exactly as a caller's cancel of a queued request does. Requests already running
   * are not touched. Their queue messages are dropped when a runner next receives them.
   */
  async cancelQueued(envId: string): Promise<RequestRecord[]> {
    // Completed like any other request: callers with a fal_webhook hear of it (once).
    const r = await this.db.query<RequestRecord>(
      WITH_WEBHOOK(
        `UPDATE requests SET status='COMPLETED', cancel_requested=true, result_status=400, error=$2,
           error_type='client_cancelled', completed_at=$3, result_content_type='application/json',
           result_body=$4::jsonb
         WHERE environment_id=$1 AND status='IN_QUEUE'`,
        '$3::float8',
      ),
      [envId, CANCELLED.message, this.clock(), JSON.stringify(CANCELLED.toBody())],
    );
    return r.rows;
  }

  /** Of these in-progress request ids, those whose caller asked to cancel. */
  async cancelRequested(ids: string[]): Promise<string[]> {
    if (ids.length === 0) return [];
    const r = await this.db.query<{ id: string }>(
      `SELECT id FROM requests WHERE id = ANY($1::text[]) AND cancel_requested AND status='IN_PROGRESS'`,
      [ids],
    );
    return r.rows.map((x) => x.id);
  }

  /** How many queued requests of the environment will be taken before this one (0 = next). */
  async queuePosition(req: RequestRecord): Promise<number> {
    const r = await this.db.query<{ n: number }>(
      `SELECT COUNT(*)::int AS n FROM requests
       WHERE environment_id=$1 AND status='IN_QUEUE' AND id <> $2
         AND (${PRIORITY_RANK} < $3 OR (${PRIORITY_RANK} = $3 AND created_at <= $4))`,
      [req.environment_id, req.id, req.priority === 'normal' ? 0 : 1, req.created_at],
    );
    return Number(r.rows[0]!.n);
  }

  /** Counts of the environment's requests by status (in all and per priority), for the autoscaler. */
  async counts(envId: string): Promise<{
    queued: number;
    inProgress: number;
    oldestQueuedAt: number | null;
    byPriority: Record<Priority, { queued: number; inFlight: number }>;
  }> {
    const r = await this.db.query<{
      priority: Priority;
      queued: number;
      in_progress: number;
      oldest: number | null;
    }>(
      `SELECT priority,
              COUNT(*) FILTER (WHERE status='IN_QUEUE')::int AS queued,
              COUNT(*) FILTER (WHERE status='IN_PROGRESS')::int AS in_progress,
              MIN(created_at) FILTER (WHERE status='IN_QUEUE') AS oldest
       FROM requests WHERE environment_id=$1 AND status <> 'COMPLETED' GROUP BY priority`,
      [envId],
    );
    const byPriority = { normal: { queued: 0, inFlight: 0 }, low: { queued: 0, inFlight: 0 } };
    let oldestQueuedAt: number | null = null;
    for (const row of r.rows) {
      const p = row.priority === 'low' ? 'low' : 'normal';
      byPriority[p] = { queued: Number(row.queued), inFlight: Number(row.in_progress) };
      if (row.oldest !== null && (oldestQueuedAt === null || row.oldest < oldestQueuedAt))
        oldestQueuedAt = Number(row.oldest);
    }
    return {
      queued: byPriority.normal.queued + byPriority.low.queued,
      inProgress: byPriority.normal.inFlight + byPriority.low.inFlight,
      oldestQueuedAt,
      byPriority,
    };
  }

  /**
   * What this environment's recent history says a cold start and a request take (means of the last
   * 20 cold starts and the last 50 timed requests); null until both have been seen.
   */
  async recentTimings(envId: string): Promise<{ coldStartMs: number; serviceMs: number } | null> {
    const r = await this.db.query<{ cold: number | null; service: number | null }>(
      `SELECT
         (SELECT AVG(cold_start_ms) FROM (SELECT cold_start_ms FROM runners
            WHERE environment_id=$1 AND cold_start_ms IS NOT NULL ORDER BY created_at DESC LIMIT 20) c) AS cold,
         (SELECT AVG(inference_ms) FROM (SELECT inference_ms FROM requests
            WHERE environment_id=$1 AND status='COMPLETED' AND inference_ms IS NOT NULL
            ORDER BY created_at DESC LIMIT 50) s) AS service`,
      [envId],
    );
    const row = r.rows[0];
    if (!row || row.cold === null || row.service === null) return null;
    return { coldStartMs: Number(row.cold), serviceMs: Number(row.service) };
  }
}
