/** Retrying calls to control with exponential backoff, for when control restarts or is overloaded. */

export interface Backoff {
  /** Delay before the next attempt; grows with each call until `reset`. */
  next(): number;
  reset(): void;
}

export function exponentialBackoff(initialMs: number, maxMs: number): Backoff {
  let attempt = 0;
  return {
    next() {
      const base = Math.min(maxMs, initialMs * 2 ** attempt);
      attempt++;
      // Jitter spreads the reconnects of many runners after a control restart.
      return Math.round(base * (0.75 + Math.random() * 0.5));
    },
    reset() {
      attempt = 0;
    },
  };
}

/** Resolves after `ms`, or at once (without throwing) when `signal` aborts. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const done = () => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal?.addEventListener('abort', done, { once: true });
  });
}

export interface RetryOptions {
  /** Attempts in all, the first included. */
  attempts: number;
  initialMs: number;
  maxMs: number;
  retryable: (err: unknown) => boolean;
  onRetry?: (err: unknown, attempt: number, delayMs: number) => void;
}

/** Calls `fn` until it succeeds, a failure is not retryable, or attempts run out (then rethrows). */
export async function retry<T>(fn: () => Promise<T>, options: RetryOptions): Promise<T> {
  const backoff = exponentialBackoff(options.initialMs, options.maxMs);
  for (let attempt = 1; ; attempt++) {
    try {
      return await fn();
    } catch (err) {
      if (attempt >= options.attempts || !options.retryable(err)) throw err;
      const delay = backoff.next();
      options.onRetry?.(err, attempt, delay);
      await sleep(delay);
    }
  }
}
