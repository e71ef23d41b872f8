/**
 * Automatic rollback (off by default; a runtime setting per environment): a revision that went live
 * through a rollout is watched for auto_rollback_window seconds, and once it has answered
 * auto_rollback_min_requests requests with a share of failures (5xx) at or over
 * auto_rollback_error_rate, control reactivates the revision it replaced, recording a rollout with
 * the reason, an audit entry and an event. The deploy gate proves a revision starts and answers one
 * request; this catches the revision that fails under real traffic.
 *
 * Runs on control's steady tick, outside the scaler's reconcile (a rollout's start reconciles).
 */
import type { FastifyBaseLogger } from 'fastify';
import type { RuntimeSettings } from '../../../contract/src/scaling-settings.ts';
import type { Environment, RolloutRecord } from '../domain.ts';
import type { Activity } from '../events/activity.ts';
import type { Store } from '../store/store.ts';
import type { Rollouts } from './rollouts.ts';

/** Who an automatic rollback is by, on its rollout and in the audit log. */
export const AUTO_ROLLBACK_BY = 'gantry:auto-rollback';

type Watch = Pick<
  RuntimeSettings,
  'auto_rollback_error_rate' | 'auto_rollback_window' | 'auto_rollback_min_requests'
>;

/**
 * Whether a fresh revision's record calls for a rollback: the reason, or undefined. Pure, so the
 * threshold's edges are tested on their own.
 */
export function rollbackReason(
  s: Watch,
  outcomes: { total: number; failed: number },
  liveForMs: number,
): string | undefined {
  if (s.auto_rollback_error_rate <= 0 || liveForMs > s.auto_rollback_window * 1000) return undefined;
  if (outcomes.total < s.auto_rollback_min_requests) return undefined;
  const rate = outcomes.failed / outcomes.total;
  if (rate < s.auto_rollback_error_rate) return undefined;
  const pct = (x: number) => `${Math.round(x * 1000) / 10}%`;
  return `automatic rollback: ${outcomes.failed} of ${outcomes.total} requests failed (${pct(rate)}, auto_rollback_error_rate ${pct(s.auto_rollback_error_rate)}) in the first ${Math.round(liveForMs / 1000)} s`;
}

/** The rollout that put the active revision live, if it may be rolled back automatically. */
function watchedRollout(env: Environment, latest: RolloutRecord | undefined): RolloutRecord | undefined {
  if (latest?.state !== 'completed' || latest.switched_at === null) return undefined;
  if (latest.to_revision_id !== env.active_revision_id || latest.restart) return undefined;
  if (latest.from_revision_id === null || latest.from_revision_id === latest.to_revision_id) return undefined;
  // A rollback this made is not undone by another: two bad revisions would swap for ever.
  if (latest.created_by === AUTO_ROLLBACK_BY) return undefined;
  return latest;
}

export class AutoRollback {
  constructor(
    private readonly d: {
      store: Store;
      rollouts: Rollouts;
      log: FastifyBaseLogger;
      clock: () => number;
      activity?: Activity;
    },
  ) {}

  /** Looks at every environment with automatic rollback on; returns the ones rolled back. */
  async check(): Promise<string[]> {
    const rolledBack: string[] = [];
    for (const id of await this.d.store.rollouts.watchedForAutoRollback()) {
      try {
        if (await this.checkOne(id)) rolledBack.push(id);
      } catch (err) {
        this.d.log.error({ err, env: id }, 'automatic rollback check failed');
      }
    }
    return rolledBack;
  }

  private async checkOne(envId: string): Promise<boolean> {
    const { store } = this.d;
    const env = await store.apps.getEnvironmentById(envId);
    if (!env) return false;
    const [latest] = await store.rollouts.list(envId, 1);
    const watched = watchedRollout(env, latest);
    if (!watched?.switched_at || !watched.from_revision_id) return false;
    const liveFor = this.d.clock() - watched.switched_at;
    if (liveFor > env.scaling.auto_rollback_window * 1000) return false;
    const outcomes = await store.rollouts.outcomesSince(envId, watched.to_revision_id, watched.switched_at);
    const reason = rollbackReason(env.scaling, outcomes, liveFor);
    if (!reason) return false;
    const [previous, fresh] = await Promise.all([
      store.revisions.get(watched.from_revision_id),
      store.revisions.get(watched.to_revision_id),
    ]);
    if (!previous || !fresh) return false;
    // At once: the previous revision served before, and every minute more of this one fails requests.
    const rollout = await this.d.rollouts.start(env, {
      revision: previous,
      strategy: 'recreate',
      reason,
      by: AUTO_ROLLBACK_BY,
    });
    this.d.log.warn({ env: envId, from: fresh.number, to: previous.number, reason }, 'automatic rollback');
    const app = await store.apps.getById(env.app_id);
    await store.audit.append({
      actor: AUTO_ROLLBACK_BY,
      on_behalf_of: null,
      action: 'rollout.auto_rollback',
      target: `${app ? `${app.owner}/${app.name}` : env.app_id}/${env.name}`,
      owner: app?.owner ?? null,
      app: app ? `${app.owner}/${app.name}` : null,
      environment: env.name,
      status: 200,
      ip: null,
      detail: {
        from_revision: fresh.number,
        to_revision: previous.number,
        rollout_id: rollout.id,
        total: outcomes.total,
        failed: outcomes.failed,
        reason,
      },
    });
    this.d.activity?.autoRollback(envId, fresh.number, previous.number, reason);
    return true;
  }
}
