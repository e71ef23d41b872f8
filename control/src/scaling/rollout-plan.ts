/**
 * The next step of a rollout, decided from its record and the environment's runners. Pure, like
 * the autoscaler; the scaler carries the step out.
 *
 * `rolling` (the deploy gate): start one runner of the new revision (the candidate; it takes no
 * work yet), switch the active revision when it is healthy (IDLE), then drain the old runners; if
 * the candidate fails to start or is not healthy within the gate's bound (the revision's
 * startup_timeout plus a margin), abort and keep the old revision. This holds with nothing
 * serving too (a first deploy, an environment scaled to zero): the revision is proven before it is
 * made active. `recreate`: switch at once and drain the old runners, unproven. A restart rollout
 * targets the revision the environment already runs: "old" then means started before the rollout.
 */
import type { RolloutRecord, RunnerRecord } from '../domain.ts';

export type RolloutRunner = Pick<
  RunnerRecord,
  'id' | 'revision_id' | 'state' | 'created_at' | 'ready_at' | 'ended_at' | 'drain_requested' | 'detail'
>;

export type RolloutStep =
  | { kind: 'start_candidate' }
  | { kind: 'wait' }
  | { kind: 'switch'; drain: string[] }
  | { kind: 'abort'; detail: string; stopCandidate: boolean };

/** Runners the rollout replaces: still running, and of the old revision or started before it. */
export function replacedRunners(r: RolloutRecord, runners: RolloutRunner[]): string[] {
  return runners
    .filter(
      (x) =>
        x.ended_at === null &&
        !x.drain_requested &&
        x.id !== r.candidate_runner_id &&
        (x.revision_id !== r.to_revision_id || (r.restart && x.created_at <= r.created_at)),
    )
    .map((x) => x.id);
}

export function planRollout(
  r: RolloutRecord,
  runners: RolloutRunner[],
  now: number,
  gateMs: number,
): RolloutStep {
  // No proof asked for: switch now.
  if (r.strategy === 'recreate') {
    return { kind: 'switch', drain: replacedRunners(r, runners) };
  }
  if (r.candidate_runner_id === null) return { kind: 'start_candidate' };
  const candidate = runners.find((x) => x.id === r.candidate_runner_id);
  if (!candidate) {
    return { kind: 'abort', detail: 'the new revision’s first runner disappeared', stopCandidate: false };
  }
  if (candidate.ended_at !== null || candidate.drain_requested) {
    const why = candidate.detail ? `: ${candidate.detail}` : '';
    return {
      kind: 'abort',
      // The cause first: a GitHub deployment's description keeps 140 characters of it.
      detail: `the first runner ended before it was healthy${why}`,
      stopCandidate: false,
    };
  }
  if (candidate.ready_at !== null) return { kind: 'switch', drain: replacedRunners(r, runners) };
  if (now - candidate.created_at > gateMs) {
    return {
      kind: 'abort',
      detail: `the new revision’s first runner was not healthy within ${gateMs / 1000} s (startup_timeout and the deploy gate's margin)`,
      stopCandidate: true,
    };
  }
  return { kind: 'wait' };
}
