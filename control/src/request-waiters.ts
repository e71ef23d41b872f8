/**
 * Callers waiting on a request: a fal status stream or long poll waits for its next change, the
 * sync /run call for its completion. The request service tells these of every change it makes;
 * a short fallback poll covers changes made by another control process sharing the database.
 */
import { EventEmitter } from 'node:events';
import { GantryError } from '../../contract/src/errors.ts';
import type { RequestRecord } from './domain.ts';
import type { Store } from './store/store.ts';

/** Fallback poll for waiters, for changes made by another control process sharing the database. */
const WAIT_REPOLL_MS = 1000;

export class RequestWaiters {
  /** Emits `<request id>` whenever that request's status or logs change. */
  private readonly events = new EventEmitter();

  constructor(private readonly store: Store) {
    this.events.setMaxListeners(0);
  }

  /** The request changed; `null` when no record comes with the change (new log lines). */
  changed(requestId: string, rec: RequestRecord | null): void {
    this.events.emit(requestId, rec);
  }

  /**
   * Resolves when the request changes (or after a short fallback interval, or when aborted), with
   * the changed record when the change carried one.
   */
  waitForChange(requestId: string, signal?: AbortSignal): Promise<RequestRecord | null | undefined> {
    return new Promise((resolve) => {
      const done = (rec?: RequestRecord | null) => {
        clearTimeout(timer);
        this.events.off(requestId, done);
        signal?.removeEventListener('abort', onAbort);
        resolve(rec);
      };
      const onAbort = () => done();
      const timer = setTimeout(() => done(), WAIT_REPOLL_MS);
      this.events.on(requestId, done);
      signal?.addEventListener('abort', onAbort);
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
      // Events carry the record: read it back only when the fallback timer fired (undefined),
      // which covers changes made by another control process.
      if (changed === undefined) req = await this.store.requests.get(requestId);
      else if (changed !== null) req = changed;
    }
  }
}
