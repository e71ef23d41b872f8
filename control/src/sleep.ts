/**
 * Control's one way to wait: resolves after `ms`, or at once (without throwing) when `signal`
 * aborts, so a wait a caller hung up on ends with the caller instead of holding its timer.
 */
import { setTimeout as timeout } from 'node:timers/promises';

export async function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  await timeout(ms, undefined, signal ? { signal } : {}).catch((err: unknown) => {
    if ((err as Error).name !== 'AbortError') throw err;
  });
}
