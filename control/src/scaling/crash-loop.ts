/**
 * A revision whose runners keep crashing before they are ready: what status calls report and what
 * fails the requests that wait for it. Derived from the runner records (runners-store crashLoop).
 */
import type { Store } from '../store/store.ts';

/** Consecutive crashed runners from which an environment's revision is reported as crash-looping. */
export const CRASH_LOOP_AT = 3;

export interface CrashLoop {
  crashes: number;
  /** When the oldest crash of the streak ended (ms). */
  since: number;
  /** The newest crash's reason: the app's last lines. */
  detail: string;
}

/** The active revision's crash loop in an environment, if it is in one. */
export async function activeCrashLoop(
  store: Store,
  env: { id: string; active_revision_id: string | null },
): Promise<CrashLoop | undefined> {
  if (!env.active_revision_id) return undefined;
  return store.runners.crashLoop(env.id, env.active_revision_id, CRASH_LOOP_AT);
}

/** What a status call says about it, and what a request that waited too long fails with. */
export const crashLoopMessage = (c: CrashLoop) => `runners are crash-looping: ${c.detail}`;
