/**
 * Callers waiting on a request: a fal status stream or long poll waits for its next change, the
 * sync /run call for its completion. The request service tells these of every change it makes;
 * a short fallback poll covers changes made by another control process sharing the database.
 */
import { EventEmitter } from 'node:events';
import { GantryError } from '../../contract/src/errors.ts';
import type { RequestRecord } from './domain.ts';
import type { Store } from './store/store.ts';

/** How often a watched request is read back, for changes made by another control process. */
const WAIT_REPOLL_MS = 1000;

/** One read-back loop per watched request, however many callers wait on it. */
interface Watch {
  timer: NodeJS.Timeout;
  /** What the last read or event showed; a read that shows the same wakes nobody. */
  seen: string;
}

export class RequestWaiters {
  /** Emits `<request id>` whenever that request's status or logs change. */
  private readonly events = new EventEmitter();
  private readonly watches = new Map<string, Watch>();

  constructor(private readonly store: Store) {
    this.events.setMaxListeners(0);
  }

  /** The request changed; `null` when no record comes with the change (new log lines). */
  changed(requestId: string, rec: RequestRecord | null): void {
    // The watch's own last read is left as it was: it wakes the waiters once more at its next
    // read, which catches any waiter that was busy (not listening) when this event went out.
    this.events.emit(requestId, rec);
  }

  /**
   * Resolves when the request changes, with the changed record (`null` for new log lines), or with
   * undefined after `maxWaitMs` or when aborted. Waiting costs no query: all waiters of a request
   * share one watch, which reads it back once a second and wakes them only when it changed (made
   * by another control process sharing the database; this one's changes arrive as events).
   */
  waitForChange(
    requestId: string,
    signal?: AbortSignal,
    maxWaitMs = WAIT_REPOLL_MS,
  ): Promise<RequestRecord | null | undefined> {
    return new Promise((resolve) => {
      const done = (rec?: RequestRecord | null) => {
        clearTimeout(timer);
        this.events.off(requestId, done);
        signal?.removeEventListener('abort', onAbort);
        resolve(rec);
      };
      const onAbort = () => done();
      const timer = setTimeout(() => done(), maxWaitMs);
      this.events.on(requestId, done);
      signal?.addEventListener('abort', onAbort);
      this.watch(requestId);
    });
  }

  /** Waits until the request completes or `deadline` (wall-clock ms, as the route sets it) passes; returns the last record seen. */
  async waitForCompletion(
    requestId: string,
    deadline: number,
    signal?: AbortSignal,
    known?: RequestRecord,
  ): Promise<RequestRecord> {
    let waiting = this.waitForChange(requestId, signal);
    let req = known ?? (await this.store.requests.get(requestId));
    for (;;) {
      if (!req) throw new GantryError('GANTRY_ERR_REQUEST_NOT_FOUND');
      if (req.status === 'COMPLETED' || Date.now() >= deadline || signal?.aborted) return req;
      const changed = await waiting;
      waiting = this.waitForChange(requestId, signal);
      // A change carries its record; a timeout (undefined) only lets the deadline be checked.
      if (changed) req = changed;
    }
  }

  /** The request as stored, and its place in the queue while it waits there. */
  private async readBack(requestId: string): Promise<{ rec: RequestRecord; seen: string } | undefined> {
    const rec = await this.store.requests.get(requestId);
    if (!rec) return undefined;
    const position = rec.status === 'IN_QUEUE' ? await this.store.requests.queuePosition(rec) : undefined;
    return { rec, seen: fingerprint(rec, position) };
  }

  /** Starts the shared read-back of a request, unless one runs; it ends when nobody waits. */
  private watch(requestId: string): void {
    if (this.watches.has(requestId)) return;
    const watch: Watch = {
      seen: '',
      timer: setInterval(() => {
        if (this.events.listenerCount(requestId) === 0) {
          clearInterval(watch.timer);
          this.watches.delete(requestId);
          return;
        }
        this.readBack(requestId).then(
          (read) => {
            if (!read || read.seen === watch.seen) return;
            watch.seen = read.seen;
            this.events.emit(requestId, read.rec);
          },
          () => {
            // A failed read is retried at the next interval.
          },
        );
      }, WAIT_REPOLL_MS),
    };
    watch.timer.unref();
    this.watches.set(requestId, watch);
  }
}

/** What a waiter would notice of a request: its state and the counters that move with it. */
function fingerprint(rec: RequestRecord, queuePosition?: number): string {
  return JSON.stringify([rec.status, rec.attempts, rec.started_at, rec.completed_at, queuePosition]);
}
