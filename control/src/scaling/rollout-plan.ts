/**
 * The next step of a rollout, decided from its record and the environment's runners. Pure, like
 * the autoscaler; the scaler carries the step out.
 *
 * `rolling`: start one runner of the new revision (the candidate; it takes no work yet), switch
 * the active revision when it is healthy (IDLE), then drain the old runners; if the candidate fails
 * to start or is not healthy within the revision's startup_timeout, abort and keep the old revision.
 * `recreate`: switch at once and drain the old runners. A restart rollout targets the revision the
 * environment already runs: "old" then means started before the rollout.
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
  startupTimeoutMs: number,
): RolloutStep {
  // Nothing served before (a first deploy), or no patience asked for: switch now.
  if (r.strategy === 'recreate' || r.from_revision_id === null) {
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
      detail: `the new revision’s first runner ended before it was healthy (${candidate.state})${why}`,
      stopCandidate: false,
    };
  }
  if (candidate.ready_at !== null) return { kind: 'switch', drain: replacedRunners(r, runners) };
  if (now - candidate.created_at > startupTimeoutMs) {
    return {
      kind: 'abort',
      detail: `the new revision’s first runner was not healthy within startup_timeout (${startupTimeoutMs / 1000} s)`,
      stopCandidate: true,
    };
  }
  return { kind: 'wait' };
}
