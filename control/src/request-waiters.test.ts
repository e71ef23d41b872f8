import { afterEach, describe, expect, it, vi } from 'vitest';
import type { RequestRecord } from './domain.ts';
import { RequestWaiters } from './request-waiters.ts';
import type { Store } from './store/store.ts';

/** A store whose one request the test changes "from another control process", counting reads. */
function storeWith(rec: RequestRecord) {
  const reads = { get: 0, position: 0 };
  let current = rec;
  const store = {
    requests: {
      get: async () => {
        reads.get++;
        return current;
      },
      queuePosition: async () => {
        reads.position++;
        return 0;
      },
    },
  } as unknown as Store;
  return { store, reads, set: (r: RequestRecord) => (current = r) };
}

const queued = {
  id: 'req-1',
  status: 'IN_PROGRESS',
  attempts: 1,
  started_at: 1,
  completed_at: null,
} as unknown as RequestRecord;

afterEach(() => {
  vi.useRealTimers();
});

describe('waiters of a request', () => {
  it('share one read-back however many wait, and all hear of a change made elsewhere', async () => {
    vi.useFakeTimers();
    const { store, reads, set } = storeWith(queued);
    const waiters = new RequestWaiters(store);
    const abort = new AbortController();
    // 200 streams of one request, each waiting again as soon as it woke, as the SSE route does.
    const heard: RequestRecord[] = [];
    const streams = Array.from({ length: 200 }, async () => {
      while (!abort.signal.aborted) {
        const changed = await waiters.waitForChange('req-1', abort.signal);
        if (changed && changed.status === 'COMPLETED') {
          heard.push(changed);
          return;
        }
      }
    });
    await vi.advanceTimersByTimeAsync(10_000);
    // One read a second for all 200 (the old waiters read once a second each: 2,000 here).
    expect(reads.get).toBeLessThanOrEqual(11);
    expect(reads.get).toBeGreaterThan(0);

    set({ ...queued, status: 'COMPLETED', completed_at: 2 } as RequestRecord);
    await vi.advanceTimersByTimeAsync(2_000);
    abort.abort();
    await Promise.all(streams);
    expect(heard).toHaveLength(200);
  });

  it('stops reading a request once nobody waits on it', async () => {
    vi.useFakeTimers();
    const { store, reads } = storeWith(queued);
    const waiters = new RequestWaiters(store);
    const waiting = waiters.waitForChange('req-1', undefined, 3_000);
    await vi.advanceTimersByTimeAsync(5_000);
    await waiting;
    expect(reads.get).toBeGreaterThan(0);
    const after = reads.get;
    await vi.advanceTimersByTimeAsync(10_000);
    expect(reads.get).toBe(after);
  });
});
