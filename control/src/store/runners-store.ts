/** Runners: their states and history, and whether each may take work. */
import { randomUUID } from 'node:crypto';
import type { RunnerState } from '../../../contract/src/runner-protocol.ts';
import type { SqlClient } from '../../../sql/src/sql-client.ts';
import type { RunnerRecord } from '../domain.ts';
import { jsonb } from './jsonb.ts';

export class RunnersStore {
  /** Told of each runner this process moves to an ended state (the runner protocol drops its cached token). */
  private readonly endedListeners: ((runnerId: string) => void)[] = [];

  constructor(
    private readonly db: SqlClient,
    private readonly clock: () => number,
  ) {}

  /** A new runner, started by control process `controlId` (which answers for it while alive). */
  async create(
    envId: string,
    revisionId: string,
    tokenHash: string,
    controlId: string | null = null,
  ): Promise<RunnerRecord> {
    const now = this.clock();
    const r = await this.db.query<RunnerRecord>(
      `INSERT INTO runners (id, environment_id, revision_id, state, token_hash, created_at, state_changed_at, history, control_id)
       VALUES ($1,$2,$3,'PENDING',$4,$5,$5,$6::jsonb,$7) RETURNING *`,
      [randomUUID(), envId, revisionId, tokenHash, now, jsonb([{ state: 'PENDING', at: now }]), controlId],
    );
    return r.rows[0]!;
  }

  /** The runner called control (any control process): it is alive. */
  async seen(id: string): Promise<void> {
    await this.db.query('UPDATE runners SET seen_at=$2 WHERE id=$1', [id, this.clock()]);
  }

  /**
   * Ready runners of an environment not heard of since `before` whose control process is gone
   * (none alive since `aliveSince`): nothing will ever report their end, so they are lost.
   */
  async listLost(envId: string, before: number, aliveSince: number): Promise<RunnerRecord[]> {
    const r = await this.db.query<RunnerRecord>(
      `SELECT * FROM runners WHERE environment_id=$1 AND ended_at IS NULL AND ready_at IS NOT NULL
         AND COALESCE(seen_at, ready_at) < $2
         AND (control_id IS NULL OR control_id NOT IN (SELECT id FROM controls WHERE seen_at >= $3))`,
      [envId, before, aliveSince],
    );
    return r.rows;
  }

  async get(id: string): Promise<(RunnerRecord & { token_hash: string }) | undefined> {
    return (
      await this.db.query<RunnerRecord & { token_hash: string }>('SELECT * FROM runners WHERE id=$1', [id])
    ).rows[0];
  }

  /**
   * Moves a runner to a state. Ended runners stay ended. The first IDLE fixes ready_at and the
   * cold start time; every IDLE refreshes last_active_at (the keep_alive clock).
   */
  async setState(
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
      [id, state, opts.in_flight ?? null, opts.detail ?? null, now, jsonb([{ state, at: now }])],
    );
    if (r.rows[0] && (state === 'TERMINATED' || state === 'CRASH_BACKOFF')) {
      for (const l of this.endedListeners) l(id);
    }
    return r.rows[0];
  }

  onEnded(listener: (runnerId: string) => void): void {
    this.endedListeners.push(listener);
  }

  /**
   * Whether a runner may take work now, in one round trip (it runs on every pull): `drain` when it
   * was asked to drain, has ended, or serves a revision that is no longer active; `not yet` for a
   * rolling rollout's candidate (a first deploy's too), healthy and waiting for the switch; `yes`
   * otherwise.
   */
  async pullGate(runnerId: string): Promise<'yes' | 'not yet' | 'drain'> {
    const r = await this.db.query<{
      drain_requested: boolean;
      ended: boolean;
      serves_active: boolean;
      of_active: boolean | null;
      candidate: string | null;
    }>(
      `SELECT r.drain_requested, r.ended_at IS NOT NULL AS ended,
              (e.active_revision_id IS NULL OR e.active_revision_id = r.revision_id) AS serves_active,
              e.active_revision_id = r.revision_id AS of_active,
              (SELECT o.candidate_runner_id FROM rollouts o
                WHERE o.environment_id = e.id AND o.state = 'in_progress'
                ORDER BY o.created_at DESC LIMIT 1) AS candidate
       FROM runners r JOIN environments e ON e.id = r.environment_id WHERE r.id = $1`,
      [runnerId],
    );
    const row = r.rows[0];
    if (!row || row.drain_requested || row.ended) return 'drain';
    // A first deploy's candidate (no active revision yet) is held too: the deploy gate proves a
    // revision before it serves, scaled to zero or not.
    if (row.candidate === runnerId && row.of_active !== true) return 'not yet';
    if (row.serves_active) return 'yes';
    return row.candidate === runnerId ? 'not yet' : 'drain';
  }

  /**
   * Whether a revision's runners are crash-looping in an environment: its last `streak` runners to
   * end all crashed (ended CRASH_BACKOFF) and none of its runners is ready now. Derived from the
   * records, so every control process sees the same. `since`: when the oldest crash of the streak
   * ended; `detail`: the newest crash's reason (the app's last lines).
   */
  async crashLoop(
    envId: string,
    revisionId: string,
    streak: number,
  ): Promise<{ crashes: number; since: number; detail: string } | undefined> {
    const ended = await this.db.query<{ state: string; detail: string | null; ended_at: number }>(
      `SELECT state, detail, ended_at FROM runners
        WHERE environment_id=$1 AND revision_id=$2 AND ended_at IS NOT NULL
        ORDER BY ended_at DESC LIMIT $3`,
      [envId, revisionId, streak],
    );
    const rows = ended.rows;
    if (rows.length < streak || rows.some((r) => r.state !== 'CRASH_BACKOFF')) return undefined;
    const ready = await this.db.query(
      `SELECT 1 FROM runners WHERE environment_id=$1 AND revision_id=$2 AND ended_at IS NULL
          AND state IN ('IDLE','RUNNING') LIMIT 1`,
      [envId, revisionId],
    );
    if (ready.rows.length > 0) return undefined;
    return {
      crashes: rows.length,
      since: Number(rows[rows.length - 1]!.ended_at),
      detail: rows[0]!.detail ?? 'its runners exit before they are ready',
    };
  }

  async requestDrain(id: string): Promise<void> {
    await this.db.query('UPDATE runners SET drain_requested=true WHERE id=$1', [id]);
  }

  /** Runners of an environment: those not ended, plus those that ended after `endedSince`. */
  async list(envId: string, endedSince = Number.POSITIVE_INFINITY): Promise<RunnerRecord[]> {
    const r = await this.db.query<RunnerRecord>(
      `SELECT * FROM runners WHERE environment_id=$1 AND (ended_at IS NULL OR ended_at >= $2)
       ORDER BY created_at`,
      [envId, Number.isFinite(endedSince) ? endedSince : 1e300],
    );
    return r.rows;
  }

  /** Runners not ended, in any environment (for shutdown and for reconciling with compute). */
  async listLive(): Promise<RunnerRecord[]> {
    return (await this.db.query<RunnerRecord>('SELECT * FROM runners WHERE ended_at IS NULL')).rows;
  }
}
