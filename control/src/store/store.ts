/**
 * The store: apps, environments, revisions, requests, logs, runners and keys. One implementation
 * over SqlClient serves both PGlite and PostgreSQL, so the two cannot drift; the contract suite
 * (store.contract.test.ts) runs against both.
 *
 * Exactly-once rule: a request moves to COMPLETED in one conditional UPDATE; whoever loses that
 * race learns it from the return value and changes nothing.
 */
import { randomUUID } from 'node:crypto';
import type { RunnerState } from '../contract/runner-protocol.ts';
import type {
  App,
  AuthMode,
  Environment,
  Priority,
  RequestLog,
  RequestRecord,
  Revision,
  RunnerRecord,
} from '../domain.ts';
import { GantryError } from '../errors.ts';
import { type CodeSettings, mergeRuntimeSettings, type RuntimeSettings } from '../scaling-settings.ts';
import { migrate } from './migrations.ts';
import type { SqlClient } from './sql-client.ts';

export interface NewRevision {
  image?: string | null;
  command?: string[] | null;
  cwd?: string | null;
  settings: CodeSettings;
  commit_sha?: string | null;
  message?: string | null;
  annotations?: Record<string, unknown>;
  created_by?: string | null;
}

export interface NewRequest {
  environment_id: string;
  path: string;
  input: unknown;
  priority: Priority;
  no_retry: boolean;
  start_deadline: number | null;
  /** fal_webhook: where the outcome is POSTed once the request completes. */
  webhook_url?: string | null;
}

export interface Completion {
  result_status: number;
  result_body: unknown;
  result_content_type: string | null;
  error: string | null;
  error_type: string | null;
  inference_ms: number | null;
  /** Out of attempts: its message went to the dead-letter queue. */
  dead_lettered?: boolean;
}

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

/**
 * Completing a request and queueing its webhook are one statement: a request that completes has
 * its delivery row, and the primary key on request_id makes a second one impossible.
 */
const WITH_WEBHOOK = (update: string, now: string) => `
  WITH done AS (${update} RETURNING *),
  hook AS (
    INSERT INTO webhook_deliveries (request_id, url, next_at, created_at)
    SELECT id, webhook_url, ${now}, ${now} FROM done WHERE webhook_url IS NOT NULL
    ON CONFLICT (request_id) DO NOTHING)
  SELECT * FROM done`;

export interface NewLog {
  request_id: string;
  timestamp: string;
  level: string;
  source: string;
  message: string;
}

/** Normal requests are taken before low-priority ones. */
const PRIORITY_RANK = `(CASE priority WHEN 'normal' THEN 0 ELSE 1 END)`;

const CANCELLED = new GantryError('GANTRY_ERR_REQUEST_CANCELLED');

export const START_TIMEOUT_MESSAGE = 'The request did not start before its x-fal-request-timeout.';

/** Environments are read with every runtime setting filled in, so no reader meets a missing one. */
const withDefaults = (e: Environment | undefined): Environment | undefined =>
  e && { ...e, scaling: mergeRuntimeSettings(e.scaling, {}) };

const json = (v: unknown): string | null => (v === undefined ? null : JSON.stringify(v));

export class Store {
  constructor(
    readonly db: SqlClient,
    private readonly clock: () => number = Date.now,
  ) {}

  async migrate(): Promise<void> {
    await migrate(this.db);
  }

  async close(): Promise<void> {
    await this.db.close();
  }

  // ---- apps and environments -------------------------------------------------------------

  async createApp(owner: string, name: string, authMode: AuthMode): Promise<App> {
    const id = randomUUID();
    const now = this.clock();
    return this.db.transaction(async (tx) => {
      const r = await tx.query<App>(
        `INSERT INTO apps (id, owner, name, auth_mode, created_at) VALUES ($1,$2,$3,$4,$5)
         ON CONFLICT (owner, name) DO NOTHING RETURNING *`,
        [id, owner, name, authMode, now],
      );
      const app = r.rows[0];
      if (!app) throw new GantryError('GANTRY_ERR_APP_EXISTS', `App ${owner}/${name} already exists.`);
      await tx.query(
        `INSERT INTO environments (id, app_id, name, scaling, created_at) VALUES ($1,$2,'production','{}',$3)`,
        [randomUUID(), id, now],
      );
      return app;
    });
  }

  async getApp(owner: string, name: string): Promise<App | undefined> {
    const r = await this.db.query<App>('SELECT * FROM apps WHERE owner=$1 AND name=$2', [owner, name]);
    return r.rows[0];
  }

  async listApps(): Promise<App[]> {
    return (await this.db.query<App>('SELECT * FROM apps ORDER BY owner, name')).rows;
  }

  /** Deletes the app and, by cascade, its environments, revisions, requests, logs and runners. */
  async deleteApp(id: string): Promise<boolean> {
    return (await this.db.query('DELETE FROM apps WHERE id=$1', [id])).rowCount > 0;
  }

  /** An app and one of its environments in one round trip (the request path's lookup). */
  async getAppEnvironment(
    owner: string,
    name: string,
    envName: string,
  ): Promise<{ app: App; env: Environment | undefined } | undefined> {
    const r = await this.db.query<{ app: App; env: Environment | null }>(
      `SELECT to_jsonb(a.*) AS app, to_jsonb(e.*) AS env
       FROM apps a LEFT JOIN environments e ON e.app_id = a.id AND e.name = $3
       WHERE a.owner = $1 AND a.name = $2`,
      [owner, name, envName],
    );
    const row = r.rows[0];
    return row && { app: row.app, env: withDefaults(row.env ?? undefined) };
  }

  async getEnvironment(appId: string, name: string): Promise<Environment | undefined> {
    const r = await this.db.query<Environment>('SELECT * FROM environments WHERE app_id=$1 AND name=$2', [
      appId,
      name,
    ]);
    return withDefaults(r.rows[0]);
  }

  async getEnvironmentById(id: string): Promise<Environment | undefined> {
    return withDefaults(
      (await this.db.query<Environment>('SELECT * FROM environments WHERE id=$1', [id])).rows[0],
    );
  }

  async listEnvironments(appId: string): Promise<Environment[]> {
    const r = await this.db.query<Environment>('SELECT * FROM environments WHERE app_id=$1 ORDER BY name', [
      appId,
    ]);
    return r.rows.map((e) => withDefaults(e)!);
  }

  /** Environments that have something to scale: an active revision. */
  async listActiveEnvironments(): Promise<Environment[]> {
    const r = await this.db.query<Environment>(
      'SELECT * FROM environments WHERE active_revision_id IS NOT NULL',
    );
    return r.rows.map((e) => withDefaults(e)!);
  }

  async ensureEnvironment(appId: string, name: string): Promise<Environment> {
    await this.db.query(
      `INSERT INTO environments (id, app_id, name, scaling, created_at) VALUES ($1,$2,$3,'{}',$4)
       ON CONFLICT (app_id, name) DO NOTHING`,
      [randomUUID(), appId, name, this.clock()],
    );
    return (await this.getEnvironment(appId, name))!;
  }

  async setScaling(envId: string, scaling: RuntimeSettings): Promise<void> {
    await this.db.query('UPDATE environments SET scaling=$2::jsonb WHERE id=$1', [envId, json(scaling)]);
  }

  // ---- revisions --------------------------------------------------------------------------

  /** Adds the next numbered revision of an environment. */
  async createRevision(envId: string, rev: NewRevision): Promise<Revision> {
    return this.db.transaction(async (tx) => {
      // Serialise numbering per environment: lock the environment row.
      await tx.query('SELECT id FROM environments WHERE id=$1 FOR UPDATE', [envId]);
      const n = await tx.query<{ n: number }>(
        'SELECT COALESCE(MAX(number), 0) + 1 AS n FROM revisions WHERE environment_id=$1',
        [envId],
      );
      const r = await tx.query<Revision>(
        `INSERT INTO revisions (id, environment_id, number, image, command, cwd, settings, commit_sha, message,
           annotations, created_by, created_at)
         VALUES ($1,$2,$3,$4,$5::jsonb,$6,$7::jsonb,$8,$9,$10::jsonb,$11,$12) RETURNING *`,
        [
          randomUUID(),
          envId,
          Number(n.rows[0]!.n),
          rev.image ?? null,
          json(rev.command ?? null),
          rev.cwd ?? null,
          json(rev.settings),
          rev.commit_sha ?? null,
          rev.message ?? null,
          json(rev.annotations ?? {}),
          rev.created_by ?? null,
          this.clock(),
        ],
      );
      return r.rows[0]!;
    });
  }

  async getRevision(id: string): Promise<Revision | undefined> {
    return (await this.db.query<Revision>('SELECT * FROM revisions WHERE id=$1', [id])).rows[0];
  }

  async getRevisionByNumber(envId: string, n: number): Promise<Revision | undefined> {
    const r = await this.db.query<Revision>('SELECT * FROM revisions WHERE environment_id=$1 AND number=$2', [
      envId,
      n,
    ]);
    return r.rows[0];
  }

  async listRevisions(envId: string): Promise<Revision[]> {
    return (
      await this.db.query<Revision>('SELECT * FROM revisions WHERE environment_id=$1 ORDER BY number DESC', [
        envId,
      ])
    ).rows;
  }

  async setActiveRevision(envId: string, revisionId: string): Promise<void> {
    await this.db.query('UPDATE environments SET active_revision_id=$2 WHERE id=$1', [envId, revisionId]);
  }

  // ---- requests ---------------------------------------------------------------------------

  async createRequest(req: NewRequest): Promise<RequestRecord> {
    const r = await this.db.query<RequestRecord>(
      `INSERT INTO requests (id, environment_id, path, input, status, priority, no_retry, start_deadline,
         created_at, webhook_url)
       VALUES ($1,$2,$3,$4::jsonb,'IN_QUEUE',$5,$6,$7,$8,$9) RETURNING *`,
      [
        randomUUID(),
        req.environment_id,
        req.path,
        json(req.input ?? null),
        req.priority,
        req.no_retry,
        req.start_deadline,
        this.clock(),
        req.webhook_url ?? null,
      ],
    );
    return r.rows[0]!;
  }

  /** Removes a request that never made it onto the queue, so no half-made record is left behind. */
  async discardRequest(id: string): Promise<void> {
    await this.db.query(`DELETE FROM requests WHERE id=$1 AND status='IN_QUEUE'`, [id]);
  }

  async getRequest(id: string): Promise<RequestRecord | undefined> {
    return (await this.db.query<RequestRecord>('SELECT * FROM requests WHERE id=$1', [id])).rows[0];
  }

  async listRequests(envId: string, limit: number): Promise<RequestRecord[]> {
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
  ): Promise<(RequestRecord & { request_timeout: number | null }) | undefined> {
    const r = await this.db.query<RequestRecord & { request_timeout: number | null }>(
      `UPDATE requests r SET status='IN_PROGRESS', attempts=r.attempts+1, runner_id=$2, started_at=$3
       FROM environments e
       WHERE r.id=$1 AND e.id=r.environment_id AND r.status <> 'COMPLETED'
         AND (r.start_deadline IS NULL OR r.attempts > 0 OR r.start_deadline >= $3)
       RETURNING r.*, (e.scaling->>'request_timeout')::float8 AS request_timeout`,
      [id, runnerId, this.clock()],
    );
    return r.rows[0];
  }

  /** Puts an in-progress request back in the queue state after a failed attempt. */
  async requeue(id: string): Promise<void> {
    await this.db.query(
      `UPDATE requests SET status='IN_QUEUE', runner_id=NULL WHERE id=$1 AND status='IN_PROGRESS'`,
      [id],
    );
  }

  /**
   * Completes a request once. Returns the completed record, or undefined if it was already complete
   * (or, with `runnerId`, if that runner no longer holds the attempt).
   */
  async completeRequest(id: string, c: Completion, runnerId?: string): Promise<RequestRecord | undefined> {
    const r = await this.db.query<RequestRecord>(
      WITH_WEBHOOK(
        `UPDATE requests SET status='COMPLETED', result_status=$2, result_body=$3::jsonb, result_content_type=$4,
           error=$5, error_type=$6, inference_ms=$7, completed_at=$8, dead_lettered=$10
         WHERE id=$1 AND status <> 'COMPLETED' AND ($9::text IS NULL OR runner_id = $9)`,
        '$8::float8',
      ),
      [
        id,
        c.result_status,
        json(c.result_body ?? null),
        c.result_content_type,
        c.error,
        c.error_type,
        c.inference_ms,
        this.clock(),
        runnerId ?? null,
        c.dead_lettered ?? false,
      ],
    );
    return r.rows[0];
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
         WHERE status='IN_QUEUE' AND attempts=0 AND start_deadline IS NOT NULL AND start_deadline < $1`,
        '$1::float8',
      ),
      [this.clock(), JSON.stringify({ detail: START_TIMEOUT_MESSAGE }), START_TIMEOUT_MESSAGE],
    );
    return r.rows;
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

  // ---- webhooks ---------------------------------------------------------------------------

  /**
   * Takes up to `limit` deliveries that are due, hiding them for `leaseMs` so another control
   * process sharing the database does not send them at the same time.
   */
  async takeDueWebhooks(limit: number, leaseMs: number): Promise<DueWebhook[]> {
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

  async webhookDelivered(requestId: string): Promise<void> {
    await this.db.query(
      'UPDATE webhook_deliveries SET delivered_at=$2, attempts=attempts+1, last_error=NULL WHERE request_id=$1',
      [requestId, this.clock()],
    );
  }

  /** A failed delivery: tried again at `nextAt`, or given up when that is null. */
  async webhookFailed(requestId: string, error: string, nextAt: number | null): Promise<void> {
    await this.db.query(
      `UPDATE webhook_deliveries SET attempts=attempts+1, last_error=$2,
         next_at=COALESCE($3::float8, next_at),
         given_up_at=CASE WHEN $3::float8 IS NULL THEN $4::float8 ELSE NULL END
       WHERE request_id=$1`,
      [requestId, error.slice(0, 2000), nextAt, this.clock()],
    );
  }

  async getWebhookDelivery(
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

  /**
   * Cancels a request: a queued one completes at once (it will never run); an in-progress one is
   * flagged so its runner tells the app. Returns the status the request had.
   */
  async cancelRequest(id: string): Promise<'IN_QUEUE' | 'IN_PROGRESS' | 'COMPLETED' | undefined> {
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
    return (await this.getRequest(id))?.status === 'COMPLETED' ? 'COMPLETED' : undefined;
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

  /** Counts of the environment's requests by status, for the autoscaler. */
  async requestCounts(
    envId: string,
  ): Promise<{ queued: number; inProgress: number; oldestQueuedAt: number | null }> {
    const r = await this.db.query<{ queued: number; in_progress: number; oldest: number | null }>(
      `SELECT COUNT(*) FILTER (WHERE status='IN_QUEUE')::int AS queued,
              COUNT(*) FILTER (WHERE status='IN_PROGRESS')::int AS in_progress,
              MIN(created_at) FILTER (WHERE status='IN_QUEUE') AS oldest
       FROM requests WHERE environment_id=$1 AND status <> 'COMPLETED'`,
      [envId],
    );
    const row = r.rows[0]!;
    return { queued: Number(row.queued), inProgress: Number(row.in_progress), oldestQueuedAt: row.oldest };
  }

  // ---- logs -------------------------------------------------------------------------------

  async appendLogs(logs: NewLog[]): Promise<void> {
    if (logs.length === 0) return;
    // Lines for a request deleted meanwhile (its app was deleted) are dropped, not an error.
    await this.db.query(
      `INSERT INTO request_logs (request_id, ts, level, source, message)
       SELECT l.request_id, l.ts, l.level, l.source, l.message
       FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[])
         WITH ORDINALITY AS l(request_id, ts, level, source, message, ord)
       WHERE EXISTS (SELECT 1 FROM requests r WHERE r.id = l.request_id)
       ORDER BY l.ord`,
      [
        logs.map((l) => l.request_id),
        logs.map((l) => l.timestamp),
        logs.map((l) => l.level),
        logs.map((l) => l.source),
        logs.map((l) => l.message),
      ],
    );
  }

  /** Logs of a request after sequence number `after` (0 = from the start), oldest first. */
  async getLogs(requestId: string, after = 0): Promise<RequestLog[]> {
    const r = await this.db.query<RequestLog>(
      `SELECT seq::float8 AS seq, ts AS timestamp, level, source, message FROM request_logs
       WHERE request_id=$1 AND seq > $2 ORDER BY seq`,
      [requestId, after],
    );
    return r.rows.map((l) => ({ ...l, seq: Number(l.seq) }));
  }

  // ---- runners ----------------------------------------------------------------------------

  async createRunner(envId: string, revisionId: string, tokenHash: string): Promise<RunnerRecord> {
    const now = this.clock();
    const r = await this.db.query<RunnerRecord>(
      `INSERT INTO runners (id, environment_id, revision_id, state, token_hash, created_at, state_changed_at, history)
       VALUES ($1,$2,$3,'PENDING',$4,$5,$5,$6::jsonb) RETURNING *`,
      [randomUUID(), envId, revisionId, tokenHash, now, json([{ state: 'PENDING', at: now }])],
    );
    return r.rows[0]!;
  }

  async getRunner(id: string): Promise<(RunnerRecord & { token_hash: string }) | undefined> {
    return (
      await this.db.query<RunnerRecord & { token_hash: string }>('SELECT * FROM runners WHERE id=$1', [id])
    ).rows[0];
  }

  /**
   * Moves a runner to a state. Ended runners stay ended. The first IDLE fixes ready_at and the
   * cold start time; every IDLE refreshes last_active_at (the keep_alive clock).
   */
  async setRunnerState(
    id: string,
    state: RunnerState,
    opts: { in_flight?: number; detail?: string | null } = {},
  ): Promise<RunnerRecord | undefined> {
    const now = this.clock();
    const r = await this.db.query<RunnerRecord>(
      `UPDATE runners SET
         state=$2,
         in_flight=COALESCE($3, in_flight),
         detail=COALESCE($4, detail),
         history = CASE WHEN state=$2 THEN history ELSE history || $6::jsonb END,
         state_changed_at = CASE WHEN state=$2 THEN state_changed_at ELSE $5 END,
         ready_at = CASE WHEN $2='IDLE' AND ready_at IS NULL THEN $5 ELSE ready_at END,
         cold_start_ms = CASE WHEN $2='IDLE' AND ready_at IS NULL THEN $5 - created_at ELSE cold_start_ms END,
         last_active_at = CASE WHEN $2 IN ('IDLE','RUNNING') THEN $5 ELSE last_active_at END,
         ended_at = CASE WHEN $2 IN ('TERMINATED','CRASH_BACKOFF') THEN $5 ELSE ended_at END
       WHERE id=$1 AND state NOT IN ('TERMINATED','CRASH_BACKOFF') RETURNING *`,
      [id, state, opts.in_flight ?? null, opts.detail ?? null, now, json([{ state, at: now }])],
    );
    return r.rows[0];
  }

  async requestDrain(id: string): Promise<void> {
    await this.db.query('UPDATE runners SET drain_requested=true WHERE id=$1', [id]);
  }

  /** Runners of an environment: those not ended, plus those that ended after `endedSince`. */
  async listRunners(envId: string, endedSince = Number.POSITIVE_INFINITY): Promise<RunnerRecord[]> {
    const r = await this.db.query<RunnerRecord>(
      `SELECT * FROM runners WHERE environment_id=$1 AND (ended_at IS NULL OR ended_at >= $2)
       ORDER BY created_at`,
      [envId, Number.isFinite(endedSince) ? endedSince : 1e300],
    );
    return r.rows;
  }

  /** Runners not ended, in any environment (for shutdown and for reconciling with compute). */
  async listLiveRunners(): Promise<RunnerRecord[]> {
    return (await this.db.query<RunnerRecord>('SELECT * FROM runners WHERE ended_at IS NULL')).rows;
  }

  // ---- keys -------------------------------------------------------------------------------

  async putKey(id: string, keyHash: string, scope: string, description: string): Promise<void> {
    await this.db.query(
      `INSERT INTO api_keys (id, key_hash, scope, description, created_at) VALUES ($1,$2,$3,$4,$5)
       ON CONFLICT (id) DO UPDATE SET key_hash=EXCLUDED.key_hash, revoked_at=NULL`,
      [id, keyHash, scope, description, this.clock()],
    );
  }

  async findKey(keyHash: string): Promise<{ id: string; scope: string } | undefined> {
    const r = await this.db.query<{ id: string; scope: string }>(
      'SELECT id, scope FROM api_keys WHERE key_hash=$1 AND revoked_at IS NULL',
      [keyHash],
    );
    return r.rows[0];
  }
}
