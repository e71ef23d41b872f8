/**
 * Per-key rate limits on submissions (`POST /queue/…`, `POST /run/…`): a key created with
 * `rate_limit: N` may submit N requests in any one minute window (fixed windows, one per key).
 * Kept in this process's memory: with several control replicas each enforces the limit on its own
 * share, and a restart forgets the window; a limit is a guard rail, not an accounting.
 */
import { GantryError } from '../../contract/src/errors.ts';
import type { Caller } from './domain.ts';

const WINDOW_MS = 60_000;

export class KeyRateLimiter {
  private readonly windows = new Map<string, { start: number; count: number }>();

  constructor(private readonly clock: () => number = Date.now) {}

  /** Counts one submission of caller; throws GANTRY_ERR_RATE_LIMITED (429) past its limit. */
  take(caller: Caller | undefined): void {
    const limit = caller?.rate_limit;
    if (!caller || limit === null || limit === undefined) return;
    const now = this.clock();
    let w = this.windows.get(caller.id);
    if (!w || now - w.start >= WINDOW_MS) {
      w = { start: now, count: 0 };
      this.windows.set(caller.id, w);
      this.forgetOld(now);
    }
    if (w.count >= limit) {
      const retryAfter = Math.max(1, Math.ceil((w.start + WINDOW_MS - now) / 1000));
      throw new GantryError(
        'GANTRY_ERR_RATE_LIMITED',
        `Key ${caller.id} may submit ${limit} requests a minute and has: try again in ${retryAfter}s.`,
        { rate_limit: limit, retry_after_seconds: retryAfter },
      );
    }
    w.count++;
  }

  /** Windows long over hold nothing; drop them so the map stays as small as the active keys. */
  private forgetOld(now: number): void {
    if (this.windows.size < 1000) return;
    for (const [id, w] of this.windows) if (now - w.start >= WINDOW_MS) this.windows.delete(id);
  }
}
