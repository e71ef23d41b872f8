/**
 * The SQS library's one way to wait (between retries, between empty polls): resolves after `ms`,
 * or at once (without throwing) when `signal` aborts, so a draining runner stops waiting at once.
 */
import { setTimeout as timeout } from 'node:timers/promises';

export async function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  await timeout(ms, undefined, signal ? { signal } : {}).catch((err: unknown) => {
    if ((err as Error).name !== 'AbortError') throw err;
  });
}
