/**
 * The store: apps, environments, revisions, requests, logs, runners and keys. One implementation
 * over SqlClient serves both PGlite and PostgreSQL, so the two cannot drift; the contract suite
 * (store.contract.test.ts) runs against both.
 *
 * Exactly-once rule: a request moves to COMPLETED in one conditional UPDATE; whoever loses that
 * race learns it from the return value and changes nothing.
 */
import { randomUUID } from 'node:crypto';
import { GantryError } from '../../../contract/src/errors.ts';
import type { RunnerState } from '../../../contract/src/runner-protocol.ts';
import {
  type CodeSettings,
  mergeRuntimeSettings,
  type RuntimeSettings,
} from '../../../contract/src/scaling-settings.ts';
import type { SqlClient } from '../../../sql/src/sql-client.ts';
import type {
  App,
  AuthMode,
  Build,
  Caller,
  Environment,
  KeyRecord,
  KeyScope,
  Priority,
  RequestLog,
  RequestRecord,
  Revision,
  RevisionHealth,
  RolloutRecord,
  RolloutState,
  RolloutStrategy,
  RunnerRecord,
} from '../domain.ts';
import { replaceEscapedNul } from '../json-nul.ts';
import { MAX_ATTEMPTS } from '../retry-policy.ts';
import type { SealedValue } from '../secrets/secret-box.ts';
import { migrate } from './migrations.ts';

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

export interface NewBuild {
  repository: string;
  commit_sha: string;
  ref: string | null;
  image: string;
  digest: string;
  content_hash: string | null;
  registered_by: string;
}

export interface NewRequest {
  environment_id: string;
  path: string;
  input: unknown;
  priority: Priority;
  no_retry: boolean;
  start_deadline: number | null;
  key_id?: string | null;
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

/** JSON for a jsonb column; a NUL (which jsonb cannot hold) becomes U+FFFD rather than an error. */
const json = (v: unknown): string | null => (v === undefined ? null : replaceEscapedNul(JSON.stringify(v)));

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

  async setAuthMode(id: string, authMode: AuthMode): Promise<void> {
    await this.db.query('UPDATE apps SET auth_mode=$2 WHERE id=$1', [id, authMode]);
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

  /** Creates an environment; refuses one that exists. */
  async createEnvironment(appId: string, name: string): Promise<Environment> {
    const r = await this.db.query<{ id: string }>(
      `INSERT INTO environments (id, app_id, name, scaling, created_at) VALUES ($1,$2,$3,'{}',$4)
       ON CONFLICT (app_id, name) DO NOTHING RETURNING id`,
      [randomUUID(), appId, name, this.clock()],
    );
    if (r.rows.length === 0) {
      throw new GantryError('GANTRY_ERR_ENVIRONMENT_EXISTS', `The app already has an environment "${name}".`);
    }
    return (await this.getEnvironmentById(r.rows[0]!.id))!;
  }

  /** Deletes an environment and, by cascade, its revisions, requests, logs, runners and secrets. */
  async deleteEnvironment(id: string): Promise<boolean> {
    return (await this.db.query('DELETE FROM environments WHERE id=$1', [id])).rowCount > 0;
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

  async deleteRevision(id: string): Promise<boolean> {
    return (await this.db.query('DELETE FROM revisions WHERE id=$1', [id])).rowCount > 0;
  }

  /**
   * How each revision of the environment fared, from its runners: failed when runners crashed
   * before ever being ready and none of them ever was (the reason is the latest crash's detail).
   */
  async revisionHealth(envId: string): Promise<Map<string, RevisionHealth>> {
    const r = await this.db.query<{
      revision_id: string;
      ever_ready: boolean;
      crashes: number;
      failure: string | null;
    }>(
      `SELECT revision_id,
              bool_or(ready_at IS NOT NULL) AS ever_ready,
              COUNT(*) FILTER (WHERE state='CRASH_BACKOFF')::int AS crashes,
              (array_agg(detail ORDER BY ended_at DESC) FILTER (WHERE state='CRASH_BACKOFF'))[1] AS failure
       FROM runners WHERE environment_id=$1 GROUP BY revision_id`,
      [envId],
    );
    const out = new Map<string, RevisionHealth>();
    for (const row of r.rows) {
      const failed = !row.ever_ready && Number(row.crashes) > 0;
      out.set(row.revision_id, {
        status: failed ? 'failed' : row.ever_ready ? 'ok' : 'not_started',
        failure: failed ? (row.failure ?? 'its runners crashed before becoming ready') : null,
      });
    }
    return out;
  }

  async setActiveRevision(envId: string, revisionId: string): Promise<void> {
    await this.db.query('UPDATE environments SET active_revision_id=$2 WHERE id=$1', [envId, revisionId]);
  }

  // ---- requests ---------------------------------------------------------------------------

  async createRequest(req: NewRequest): Promise<RequestRecord> {
    const r = await this.db.query<RequestRecord>(
      `INSERT INTO requests (id, environment_id, path, input, status, priority, no_retry, start_deadline, created_at,
         key_id, webhook_url)
       VALUES ($1,$2,$3,$4::jsonb,'IN_QUEUE',$5,$6,$7,$8,$9,$10) RETURNING *`,
      [
        randomUUID(),
        req.environment_id,
        req.path,
        json(req.input ?? null),
        req.priority,
        req.no_retry,
        req.start_deadline,
        this.clock(),
        req.key_id ?? null,
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
    /** The runner's environment: a runner never starts another environment's request. */
    environmentId?: string,
  ): Promise<(RequestRecord & { request_timeout: number | null }) | undefined> {
    const r = await this.db.query<RequestRecord & { request_timeout: number | null }>(
      `UPDATE requests r SET status='IN_PROGRESS', attempts=r.attempts+1, runner_id=$2, started_at=$3
       FROM environments e
       WHERE r.id=$1 AND e.id=r.environment_id AND r.status <> 'COMPLETED'
         AND ($4::text IS NULL OR r.environment_id = $4)
         -- fal's start timeout caps all waiting, retries included: past it, no attempt starts.
         AND (r.start_deadline IS NULL OR r.start_deadline >= $3)
         -- Redelivered while still IN_PROGRESS: its last attempt's runner was lost (a crash). That
         -- is retried only within fal's rules; otherwise the caller completes it instead.
         AND NOT (r.status = 'IN_PROGRESS' AND (r.no_retry OR r.attempts >= ${MAX_ATTEMPTS}))
       RETURNING r.*, (e.scaling->>'request_timeout')::float8 AS request_timeout`,
      [id, runnerId, this.clock(), environmentId ?? null],
    );
    return r.rows[0];
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
         WHERE status='IN_QUEUE' AND start_deadline IS NOT NULL AND start_deadline < $1`,
        '$1::float8',
      ),
      [this.clock(), JSON.stringify({ detail: START_TIMEOUT_MESSAGE }), START_TIMEOUT_MESSAGE],
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
  async requestCounts(envId: string): Promise<{
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

  // ---- logs -------------------------------------------------------------------------------

  async appendLogs(logs: NewLog[], environmentId?: string): Promise<void> {
    if (logs.length === 0) return;
    // Lines for a request deleted meanwhile (its app was deleted), or of another environment than
    // the runner's, are dropped, not an error.
    await this.db.query(
      `INSERT INTO request_logs (request_id, ts, level, source, message)
       SELECT l.request_id, l.ts, l.level, l.source, l.message
       FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[])
         WITH ORDINALITY AS l(request_id, ts, level, source, message, ord)
       WHERE EXISTS (SELECT 1 FROM requests r
                     WHERE r.id = l.request_id AND ($6::text IS NULL OR r.environment_id = $6))
       ORDER BY l.ord`,
      [
        logs.map((l) => l.request_id),
        logs.map((l) => l.timestamp),
        logs.map((l) => l.level),
        logs.map((l) => l.source),
        // PostgreSQL text cannot hold NUL; an app that prints one must not lose its other lines.
        logs.map((l) => l.message.replaceAll('\u0000', '\uFFFD')),
        environmentId ?? null,
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

  /**
   * Log lines of every request of an environment: after `after` (oldest first, for following),
   * or, when after is 0, the last `limit` lines.
   */
  async getEnvironmentLogs(
    envId: string,
    after: number,
    limit: number,
  ): Promise<(RequestLog & { request_id: string })[]> {
    const r = await this.db.query<RequestLog & { request_id: string }>(
      after > 0
        ? `SELECT l.seq::float8 AS seq, l.request_id, l.ts AS timestamp, l.level, l.source, l.message
           FROM request_logs l JOIN requests q ON q.id = l.request_id
           WHERE q.environment_id=$1 AND l.seq > $2 ORDER BY l.seq LIMIT $3`
        : `SELECT * FROM (
             SELECT l.seq::float8 AS seq, l.request_id, l.ts AS timestamp, l.level, l.source, l.message
             FROM request_logs l JOIN requests q ON q.id = l.request_id
             WHERE q.environment_id=$1 AND l.seq > $2 ORDER BY l.seq DESC LIMIT $3) t ORDER BY seq`,
      [envId, after, limit],
    );
    return r.rows.map((l) => ({ ...l, seq: Number(l.seq) }));
  }

  /** The highest log sequence number so far (where following starts). */
  async lastLogSeq(): Promise<number> {
    const r = await this.db.query<{ n: number }>(
      'SELECT COALESCE(MAX(seq), 0)::float8 AS n FROM request_logs',
    );
    return Number(r.rows[0]!.n);
  }

  // ---- secrets ----------------------------------------------------------------------------

  /** Sets several secrets of one environment at once (all or none). Values arrive sealed. */
  async putSecrets(
    envId: string,
    sealed: { name: string; value: SealedValue }[],
    opts: { keepUpdatedAt?: boolean } = {},
  ): Promise<void> {
    const now = this.clock();
    await this.db.transaction(async (tx) => {
      for (const s of sealed) {
        await tx.query(
          `INSERT INTO secrets (environment_id, name, key_id, nonce, ciphertext, updated_at)
           VALUES ($1,$2,$3,$4,$5,$6)
           ON CONFLICT (environment_id, name) DO UPDATE SET key_id=EXCLUDED.key_id, nonce=EXCLUDED.nonce,
             ciphertext=EXCLUDED.ciphertext,
             updated_at=CASE WHEN $7 THEN secrets.updated_at ELSE EXCLUDED.updated_at END`,
          [
            envId,
            s.name,
            s.value.key_id,
            s.value.nonce,
            s.value.ciphertext,
            now,
            opts.keepUpdatedAt === true,
          ],
        );
      }
    });
  }

  async environmentsWithSecrets(): Promise<string[]> {
    const r = await this.db.query<{ environment_id: string }>('SELECT DISTINCT environment_id FROM secrets');
    return r.rows.map((x) => x.environment_id);
  }

  /** Names and change times only: listing never reads a value. */
  async listSecrets(envId: string): Promise<{ name: string; updated_at: number }[]> {
    const r = await this.db.query<{ name: string; updated_at: number }>(
      'SELECT name, updated_at FROM secrets WHERE environment_id=$1 ORDER BY name',
      [envId],
    );
    return r.rows;
  }

  /** Sealed values, for a runner's start (decrypted there, never returned by the API). */
  async sealedSecrets(envId: string): Promise<{ name: string; value: SealedValue }[]> {
    const r = await this.db.query<{ name: string } & SealedValue>(
      'SELECT name, key_id, nonce, ciphertext FROM secrets WHERE environment_id=$1 ORDER BY name',
      [envId],
    );
    return r.rows.map((x) => ({
      name: x.name,
      value: { key_id: x.key_id, nonce: x.nonce, ciphertext: x.ciphertext },
    }));
  }

  async deleteSecrets(envId: string, names: string[]): Promise<string[]> {
    const r = await this.db.query<{ name: string }>(
      'DELETE FROM secrets WHERE environment_id=$1 AND name = ANY($2::text[]) RETURNING name',
      [envId, names],
    );
    return r.rows.map((x) => x.name);
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

  /**
   * Whether a runner may take work now, in one round trip (it runs on every pull): `drain` when it
   * was asked to drain, has ended, or serves a revision that is no longer active; `not yet` for a
   * rolling rollout's candidate, healthy and waiting for the switch; `yes` otherwise.
   */
  async pullGate(runnerId: string): Promise<'yes' | 'not yet' | 'drain'> {
    const r = await this.db.query<{
      drain_requested: boolean;
      ended: boolean;
      serves_active: boolean;
      candidate: string | null;
    }>(
      `SELECT r.drain_requested, r.ended_at IS NOT NULL AS ended,
              (e.active_revision_id IS NULL OR e.active_revision_id = r.revision_id) AS serves_active,
              (SELECT o.candidate_runner_id FROM rollouts o
                WHERE o.environment_id = e.id AND o.state = 'in_progress'
                ORDER BY o.created_at DESC LIMIT 1) AS candidate
       FROM runners r JOIN environments e ON e.id = r.environment_id WHERE r.id = $1`,
      [runnerId],
    );
    const row = r.rows[0];
    if (!row || row.drain_requested || row.ended) return 'drain';
    if (row.serves_active) return 'yes';
    return row.candidate === runnerId ? 'not yet' : 'drain';
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

  // ---- builds -----------------------------------------------------------------------------

  /**
   * Records a build. Idempotent: the same repository, commit and digest again returns the build
   * already held (`created: false`), so a re-run Action changes nothing.
   */
  async registerBuild(b: NewBuild): Promise<{ build: Build; created: boolean }> {
    const inserted = await this.db.query<Build>(
      `INSERT INTO builds (id, repository, commit_sha, ref, image, digest, content_hash, registered_by, created_at)
       VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9)
       ON CONFLICT (repository, commit_sha, digest) DO NOTHING RETURNING *`,
      [
        randomUUID(),
        b.repository,
        b.commit_sha,
        b.ref,
        b.image,
        b.digest,
        b.content_hash,
        b.registered_by,
        this.clock(),
      ],
    );
    if (inserted.rows[0]) return { build: inserted.rows[0], created: true };
    const existing = await this.db.query<Build>(
      'SELECT * FROM builds WHERE repository=$1 AND commit_sha=$2 AND digest=$3',
      [b.repository, b.commit_sha, b.digest],
    );
    return { build: existing.rows[0]!, created: false };
  }

  /** Builds of a repository, newest first; only those of one commit when `commitSha` is given. */
  async listBuilds(repository: string, commitSha?: string, limit = 100): Promise<Build[]> {
    const r =
      commitSha === undefined
        ? await this.db.query<Build>(
            'SELECT * FROM builds WHERE repository=$1 ORDER BY created_at DESC, id LIMIT $2',
            [repository, limit],
          )
        : await this.db.query<Build>(
            'SELECT * FROM builds WHERE repository=$1 AND commit_sha=$2 ORDER BY created_at DESC, id LIMIT $3',
            [repository, commitSha, limit],
          );
    return r.rows;
  }

  // ---- rollouts --------------------------------------------------------------------------

  /**
   * Records a new rollout. One rollout is in progress per environment at a time: any other open
   * one is marked superseded in the same transaction, and returned so its candidate can go.
   */
  async createRollout(r: {
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

  async getOpenRollout(envId: string): Promise<RolloutRecord | undefined> {
    const r = await this.db.query<RolloutRecord>(
      `SELECT * FROM rollouts WHERE environment_id=$1 AND state='in_progress' ORDER BY created_at DESC LIMIT 1`,
      [envId],
    );
    return r.rows[0];
  }

  async getRollout(id: string): Promise<RolloutRecord | undefined> {
    return (await this.db.query<RolloutRecord>('SELECT * FROM rollouts WHERE id=$1', [id])).rows[0];
  }

  async listRollouts(envId: string, limit: number): Promise<RolloutRecord[]> {
    const r = await this.db.query<RolloutRecord>(
      'SELECT * FROM rollouts WHERE environment_id=$1 ORDER BY created_at DESC LIMIT $2',
      [envId, limit],
    );
    return r.rows;
  }

  async setRolloutCandidate(id: string, runnerId: string): Promise<void> {
    await this.db.query('UPDATE rollouts SET candidate_runner_id=$2 WHERE id=$1', [id, runnerId]);
  }

  /**
   * Ends an in-progress rollout. `completed` also switches the environment's active revision, in the
   * same transaction, so the record and the switch cannot disagree. False when it was no longer open.
   */
  async endRollout(
    id: string,
    state: Exclude<RolloutState, 'in_progress'>,
    detail: string | null,
  ): Promise<boolean> {
    const now = this.clock();
    return this.db.transaction(async (tx) => {
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
  }

  // ---- keys -------------------------------------------------------------------------------

  /** Adds a key (only its hash). */
  async createKey(k: {
    id: string;
    keyHash: string;
    scope: KeyScope;
    owner: string | null;
    description: string;
  }): Promise<KeyRecord> {
    const r = await this.db.query<KeyRecord>(
      `INSERT INTO api_keys (id, key_hash, scope, owner, description, created_at) VALUES ($1,$2,$3,$4,$5,$6)
       RETURNING id, scope, owner, description, created_at, revoked_at`,
      [k.id, k.keyHash, k.scope, k.owner, k.description, this.clock()],
    );
    return r.rows[0]!;
  }

  /** Keys not revoked, with how many requests each made (usage of shared and private apps). */
  async listKeys(): Promise<(KeyRecord & { requests: number; last_used_at: number | null })[]> {
    const r = await this.db.query<KeyRecord & { requests: number; last_used_at: number | null }>(
      `SELECT k.id, k.scope, k.owner, k.description, k.created_at, k.revoked_at,
              COUNT(q.id)::int AS requests, MAX(q.created_at) AS last_used_at
       FROM api_keys k LEFT JOIN requests q ON q.key_id = k.id
       WHERE k.revoked_at IS NULL GROUP BY k.id ORDER BY k.created_at, k.id`,
    );
    return r.rows.map((k) => ({ ...k, requests: Number(k.requests) }));
  }

  async revokeKey(id: string): Promise<boolean> {
    const r = await this.db.query('UPDATE api_keys SET revoked_at=$2 WHERE id=$1 AND revoked_at IS NULL', [
      id,
      this.clock(),
    ]);
    return r.rowCount > 0;
  }

  async putKey(id: string, keyHash: string, scope: string, description: string): Promise<void> {
    await this.db.query(
      `INSERT INTO api_keys (id, key_hash, scope, description, created_at) VALUES ($1,$2,$3,$4,$5)
       ON CONFLICT (id) DO UPDATE SET key_hash=EXCLUDED.key_hash, revoked_at=NULL`,
      [id, keyHash, scope, description, this.clock()],
    );
  }

  async findKey(keyHash: string): Promise<Caller | undefined> {
    const r = await this.db.query<Caller>(
      'SELECT id, scope, owner FROM api_keys WHERE key_hash=$1 AND revoked_at IS NULL',
      [keyHash],
    );
    return r.rows[0];
  }
}
