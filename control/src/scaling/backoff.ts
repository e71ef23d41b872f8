/**
 * When an environment may start runners again after a failure. Two kinds, two rules (fal's):
 * a crash (the app failed in setup, or took longer than startup_timeout) backs off +30 s per
 * consecutive failure up to 10 minutes, because starting the same broken code again at once only
 * burns GPU time; no capacity (the cloud had no GPU for us) retries every 20 s, because it says
 * nothing about the app and capacity often frees up within a minute. A runner that becomes ready
 * clears the state. Pure, so the scaler and the simulator share it.
 */

export type FailureKind = 'crash' | 'capacity';

export interface Backoff {
  kind: FailureKind;
  /** Consecutive crashes so far (capacity failures do not count: they are not the app's fault). */
  crashes: number;
  /** No runner may start before this time. */
  until: number;
}

export interface BackoffRules {
  crashStepMs: number;
  crashCapMs: number;
  capacityRetryMs: number;
}

export const BACKOFF_RULES: BackoffRules = {
  crashStepMs: 30_000,
  crashCapMs: 600_000,
  capacityRetryMs: 20_000,
};

/** The backoff after one more failure of this kind at `now`. */
export function afterFailure(
  prev: Backoff | null,
  kind: FailureKind,
  now: number,
  rules: BackoffRules = BACKOFF_RULES,
): Backoff {
  const crashes = (prev?.crashes ?? 0) + (kind === 'crash' ? 1 : 0);
  const wait =
    kind === 'crash' ? Math.min(rules.crashStepMs * crashes, rules.crashCapMs) : rules.capacityRetryMs;
  // A capacity retry never shortens a crash backoff that is still running.
  const until = Math.max(now + wait, prev && kind === 'capacity' ? prev.until : 0);
  return { kind, crashes, until };
}
