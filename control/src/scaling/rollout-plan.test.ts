import { describe, expect, it } from 'vitest';
import type { RolloutRecord } from '../domain.ts';
import { planRollout, type RolloutRunner, type RolloutStep } from './rollout-plan.ts';

const T0 = 1_000_000;
const rollout = (p: Partial<RolloutRecord> = {}): RolloutRecord => ({
  id: 'ro',
  environment_id: 'env',
  from_revision_id: 'rev1',
  to_revision_id: 'rev2',
  strategy: 'rolling',
  restart: false,
  state: 'in_progress',
  reason: null,
  created_by: null,
  candidate_runner_id: null,
  detail: null,
  created_at: T0,
  switched_at: null,
  ended_at: null,
  ...p,
});
const runner = (id: string, p: Partial<RolloutRunner> = {}): RolloutRunner => ({
  id,
  revision_id: 'rev1',
  state: 'IDLE',
  created_at: T0 - 60_000,
  ready_at: T0 - 50_000,
  ended_at: null,
  drain_requested: false,
  detail: null,
  ...p,
});
const candidate = (p: Partial<RolloutRunner> = {}) =>
  runner('new', { revision_id: 'rev2', created_at: T0 + 1, ready_at: null, state: 'SETUP', ...p });

describe('planRollout', () => {
  const old = [runner('a'), runner('b', { state: 'RUNNING' })];
  const cases: [string, RolloutRecord, RolloutRunner[], number, RolloutStep][] = [
    ['rolling starts one candidate first', rollout(), old, T0, { kind: 'start_candidate' }],
    [
      'waits while the candidate starts',
      rollout({ candidate_runner_id: 'new' }),
      [...old, candidate()],
      T0 + 5_000,
      { kind: 'wait' },
    ],
    [
      'switches when the candidate is healthy, draining the old runners (busy ones too: they finish first)',
      rollout({ candidate_runner_id: 'new' }),
      [...old, candidate({ state: 'IDLE', ready_at: T0 + 3_000 })],
      T0 + 5_000,
      { kind: 'switch', drain: ['a', 'b'] },
    ],
    [
      'aborts when the candidate crashed in setup',
      rollout({ candidate_runner_id: 'new' }),
      [...old, candidate({ state: 'CRASH_BACKOFF', ended_at: T0 + 2_000, detail: 'boom' })],
      T0 + 5_000,
      {
        kind: 'abort',
        detail: 'the first runner ended before it was healthy: boom',
        stopCandidate: false,
      },
    ],
    [
      'aborts and stops a candidate not healthy within the gate (startup_timeout and margin)',
      rollout({ candidate_runner_id: 'new' }),
      [...old, candidate()],
      T0 + 61_000,
      {
        kind: 'abort',
        detail:
          "the new revision’s first runner was not healthy within 60 s (startup_timeout and the deploy gate's margin)",
        stopCandidate: true,
      },
    ],
    [
      'recreate switches at once',
      rollout({ strategy: 'recreate' }),
      old,
      T0,
      { kind: 'switch', drain: ['a', 'b'] },
    ],
    [
      'the deploy gate: a first deploy (nothing serving) proves its candidate before it switches',
      rollout({ from_revision_id: null }),
      [],
      T0,
      { kind: 'start_candidate' },
    ],
    [
      'the deploy gate: a first deploy whose candidate crashed is aborted, with the crash',
      rollout({ from_revision_id: null, candidate_runner_id: 'new' }),
      [
        candidate({
          state: 'CRASH_BACKOFF',
          ended_at: T0 + 2_000,
          detail: 'runner exited with code 1: boom',
        }),
      ],
      T0 + 5_000,
      {
        kind: 'abort',
        detail: 'the first runner ended before it was healthy: runner exited with code 1: boom',
        stopCandidate: false,
      },
    ],
    [
      'a restart replaces runners started before it, keeping the candidate',
      rollout({ to_revision_id: 'rev1', restart: true, candidate_runner_id: 'new' }),
      [...old, candidate({ revision_id: 'rev1', state: 'IDLE', ready_at: T0 + 3_000 })],
      T0 + 5_000,
      { kind: 'switch', drain: ['a', 'b'] },
    ],
    [
      'already draining or ended runners are left alone',
      rollout({ strategy: 'recreate' }),
      [runner('a', { drain_requested: true }), runner('b', { state: 'TERMINATED', ended_at: T0 - 1 })],
      T0,
      { kind: 'switch', drain: [] },
    ],
  ];
  it.each(cases)('%s', (_name, r, runners, now, expected) => {
    expect(planRollout(r, runners, now, 60_000)).toEqual(expected);
  });
});
