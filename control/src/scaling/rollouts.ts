/**
 * Starting rollouts: the one way an environment's active revision changes (deploy, rollback,
 * restart). This records who and why and hands the rollout to the scaler, which advances it on
 * every reconcile (rollout-plan.ts decides each step).
 */

import { GantryError } from '../../../contract/src/errors.ts';
import type { Environment, Revision, RolloutRecord, RolloutStrategy } from '../domain.ts';
import { LIVE_RUNNER_STATES } from '../domain.ts';
import type { Activity } from '../events/activity.ts';
import type { Store } from '../store/store.ts';
import type { Scaler } from './scaler.ts';

export interface RolloutRequest {
  /** The revision to move to; for a restart, the active one. */
  revision: Revision;
  /**
   * Unset: `rolling`, the deploy gate, whether or not runners are live (a revision is proven before
   * it serves); a restart with nothing live is a `recreate` (nothing to replace).
   */
  strategy?: RolloutStrategy;
  restart?: boolean;
  reason?: string | null;
  by?: string | null;
}

export class Rollouts {
  constructor(private readonly d: { store: Store; scaler: Scaler; activity?: Activity }) {}

  /** Records a rollout and takes its first step at once; returns the record after that step. */
  async start(env: Environment, o: RolloutRequest): Promise<RolloutRecord> {
    const { store, scaler } = this.d;
    const restart = o.restart === true;
    if (restart && o.revision.id !== env.active_revision_id) {
      throw new GantryError(
        'GANTRY_ERR_VALIDATION',
        'A restart rollout restarts the active revision; leave `revision` out or name the active one.',
      );
    }
    const live = (await store.runners.list(env.id)).filter(
      (r) => LIVE_RUNNER_STATES.includes(r.state) && !r.drain_requested,
    );
    let strategy = o.strategy ?? (!restart || live.length > 0 ? 'rolling' : 'recreate');
    // Naming the revision that already serves changes nothing to roll: no new runners for it.
    if (!restart && o.revision.id === env.active_revision_id) strategy = 'recreate';
    const { rollout, superseded } = await store.rollouts.create({
      environment_id: env.id,
      from_revision_id: env.active_revision_id,
      to_revision_id: o.revision.id,
      strategy,
      restart,
      reason: o.reason ?? null,
      created_by: o.by ?? null,
    });
    for (const old of superseded) this.d.activity?.rollout(old);
    this.d.activity?.rollout(rollout);
    await scaler.reconcile(env.id);
    return (await store.rollouts.get(rollout.id)) ?? rollout;
  }
}
