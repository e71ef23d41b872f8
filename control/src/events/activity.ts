/**
 * Where control tells what just happened, once: each call records the event (event-log.ts) and
 * moves the metrics (metrics/control-metrics.ts) that follow from it. The scaler, rollouts, the
 * runner protocol, the request path, the management API and the webhook sender call it; none of
 * them waits for it or fails because of it.
 */
import type { FastifyBaseLogger } from 'fastify';
import type { Environment, RequestRecord, Revision, RolloutRecord, RunnerRecord } from '../domain.ts';
import type { ControlMetrics, Where } from '../metrics/control-metrics.ts';
import type { Store } from '../store/store.ts';
import type { EventLog } from './event-log.ts';

export class Activity {
  private readonly places = new Map<string, Where>();
  private readonly pending = new Set<Promise<unknown>>();
  private readonly chains = new Map<string, Promise<void>>();

  constructor(
    private readonly d: {
      store: Store;
      events: EventLog;
      metrics: ControlMetrics;
      log: FastifyBaseLogger;
    },
  ) {}

  /** Waits for what was recorded so far (tests, shutdown). */
  async settle(): Promise<void> {
    while (this.pending.size > 0) await Promise.allSettled([...this.pending]);
  }

  private later(what: string, fn: () => Promise<unknown>): void {
    const p: Promise<unknown> = fn()
      .catch((err: unknown) => this.d.log.warn({ err, what }, 'recording activity failed'))
      .finally(() => this.pending.delete(p));
    this.pending.add(p);
  }

  /** Like later, but one environment's events are recorded in the order they were told. */
  private inOrder(envId: string, what: string, fn: () => Promise<unknown>): void {
    const prev = this.chains.get(envId) ?? Promise.resolve();
    const next: Promise<void> = prev
      .then(fn)
      .then(
        () => undefined,
        (err: unknown) => this.d.log.warn({ err, what }, 'recording activity failed'),
      )
      .finally(() => {
        this.pending.delete(next);
        if (this.chains.get(envId) === next) this.chains.delete(envId);
      });
    this.chains.set(envId, next);
    this.pending.add(next);
  }

  private async where(envId: string): Promise<Where | undefined> {
    const known = this.places.get(envId);
    if (known) return known;
    const w = await this.d.store.events.whereIs(envId);
    if (w) this.places.set(envId, w);
    return w && this.d.metrics.where(w);
  }

  private async revisionNumber(id: string | null): Promise<number | null> {
    return id ? ((await this.d.store.revisions.get(id))?.number ?? null) : null;
  }

  /** A runner's state was written; `r` is the record the store returned. */
  runnerChanged(r: RunnerRecord | undefined, why?: string): void {
    if (!r) return;
    this.inOrder(r.environment_id, 'runner state', async () => {
      const rev = await this.d.store.revisions.get(r.revision_id);
      const outcome = await this.d.events.runnerState(r, rev?.number ?? null, why);
      if (outcome === 'ready' && r.cold_start_ms !== null) {
        const w = await this.where(r.environment_id);
        if (w) {
          const machine_type = rev?.settings.machine_type[0] ?? 'CPU';
          this.d.metrics.coldStart.observe({ ...w, machine_type }, r.cold_start_ms / 1000);
        }
      }
    });
  }

  /** An attempt of a request started on a runner. */
  attemptStarted(rec: RequestRecord): void {
    this.later('attempt started', async () => {
      const w = await this.where(rec.environment_id);
      if (!w) return;
      this.d.metrics.attempts.inc(w);
      if (rec.attempts === 1 && rec.started_at !== null) {
        this.d.metrics.queueWait.observe(w, Math.max(0, rec.started_at - rec.created_at) / 1000);
      }
    });
  }

  /** A failed attempt went back on the queue. */
  retried(envId: string, errorType: string): void {
    this.later('retry', async () => {
      const w = await this.where(envId);
      if (w) this.d.metrics.retries.inc({ ...w, error_type: errorType });
    });
  }

  /** A request completed (success, error, cancel or dead letter). */
  completed(rec: RequestRecord): void {
    this.inOrder(rec.environment_id, 'completed', async () => {
      const w = await this.where(rec.environment_id);
      if (!w) return;
      if (rec.completed_at !== null) {
        this.d.metrics.requestLatency.observe(w, Math.max(0, rec.completed_at - rec.created_at) / 1000);
      }
      if (!rec.dead_lettered) return;
      this.d.metrics.deadLettered.inc(w);
      await this.d.events.record({
        environment_id: rec.environment_id,
        type: 'request.dead_lettered',
        message: `request ${rec.id} ran out of attempts (${rec.attempts}): ${rec.error_type ?? 'error'}`,
        runner_id: rec.runner_id,
        data: { request_id: rec.id, error_type: rec.error_type, attempts: rec.attempts, error: rec.error },
      });
    });
  }

  /** A rollout started, or ended (`completed`, `aborted`, `superseded`). */
  rollout(r: RolloutRecord | undefined): void {
    if (!r) return;
    this.inOrder(r.environment_id, 'rollout', async () => {
      const [from, to] = await Promise.all([
        this.revisionNumber(r.from_revision_id),
        this.revisionNumber(r.to_revision_id),
      ]);
      const kind = r.state === 'in_progress' ? 'started' : r.state;
      const who = r.created_by ? ` by ${r.created_by}` : '';
      const why = r.reason ? ` (${r.reason})` : '';
      const what = r.restart ? `restart of #${to}` : from === null ? `to #${to}` : `#${from} → #${to}`;
      const how = kind === 'started' ? `, ${r.strategy}` : '';
      const detail = r.detail ? `: ${r.detail}` : '';
      await this.d.events.record({
        environment_id: r.environment_id,
        type: `rollout.${kind}`,
        message: `rollout ${what} ${kind}${how}${who}${why}${detail}`,
        revision: to,
        data: {
          rollout_id: r.id,
          from_revision: from,
          to_revision: to,
          strategy: r.strategy,
          restart: r.restart,
          by: r.created_by,
          reason: r.reason,
          detail: r.detail,
        },
      });
    });
  }

  /** A revision was created (deployed; whether it becomes active is the rollout's business). */
  deployed(env: Environment, rev: Revision): void {
    this.inOrder(env.id, 'deploy', () =>
      this.d.events.record({
        environment_id: env.id,
        type: 'deploy',
        message: `revision #${rev.number} created${rev.commit_sha ? ` from ${rev.commit_sha.slice(0, 7)}` : ''}${rev.message ? `: ${rev.message}` : ''}`,
        revision: rev.number,
        data: { commit_sha: rev.commit_sha, message: rev.message, by: rev.created_by },
      }),
    );
  }

  /** Runtime scaling settings changed. */
  scalingChanged(envId: string, before: Record<string, number>, after: Record<string, number>): void {
    const changes: Record<string, [number | null, number]> = {};
    for (const [k, v] of Object.entries(after)) if (before[k] !== v) changes[k] = [before[k] ?? null, v];
    if (Object.keys(changes).length === 0) return;
    this.inOrder(envId, 'scaling', () =>
      this.d.events.record({
        environment_id: envId,
        type: 'scaling.changed',
        message: `scaling: ${Object.entries(changes)
          .map(([k, [a, b]]) => `${k} ${a ?? '-'} → ${b}`)
          .join(', ')}`,
        data: { changes },
      }),
    );
  }

  /** A fresh revision failed too many requests: control reactivated the one before it. */
  autoRollback(envId: string, from: number, to: number, reason: string): void {
    this.inOrder(envId, 'auto rollback', () =>
      this.d.events.record({
        environment_id: envId,
        type: 'rollout.auto_rollback',
        message: `revision #${from} rolled back to #${to}: ${reason}`,
        revision: to,
        data: { from_revision: from, to_revision: to, reason },
      }),
    );
  }

  /** Starts are held back after consecutive crashes. */
  crashLoop(envId: string, crashes: number, until: number): void {
    this.inOrder(envId, 'crash loop', () =>
      this.d.events.record({
        environment_id: envId,
        type: 'runner.crash_loop',
        message: `${crashes} crash${crashes === 1 ? '' : 'es'} in a row: no new runner before ${new Date(until).toISOString()}`,
        data: { crashes, until: new Date(until).toISOString() },
      }),
    );
  }

  webhook(outcome: 'delivered' | 'failed' | 'given_up'): void {
    this.d.metrics.webhookDeliveries.inc({ outcome });
  }
}
