/**
 * The event log: one stream per environment of what happened to it, written where it happens
 * (the scaler, rollouts, the runner protocol, the management API, the request path) and read by
 * `GET …/events`, `gantry events` and the console. Recording never fails the action it records: a
 * lost event is logged, the deploy or the request goes on.
 *
 * Event types (stable; `data` carries the fields named):
 * - `runner.state`: a runner changed state (`state`, `from`, `detail` = the reason). IDLE⇄RUNNING
 *   flips of a ready runner are request traffic, not events, and are left out.
 * - `rollout.started` / `rollout.completed` / `rollout.aborted` / `rollout.superseded`
 *   (`rollout_id`, `from_revision`, `to_revision`, `strategy`, `by`, `reason`, `detail`).
 * - `deploy`: a revision was created (`commit_sha`, `message`, `by`).
 * - `scaling.changed`: runtime settings changed (`changes`: name → [old, new]).
 * - `runner.crash_loop`: starts are held back after consecutive crashes (`crashes`, `until`).
 * - `request.dead_lettered`: a request ran out of attempts (`request_id`, `error_type`, `attempts`).
 */
import { EventEmitter } from 'node:events';
import type { FastifyBaseLogger } from 'fastify';
import type { RunnerRecord } from '../domain.ts';
import type { EventRecord, EventsStore, NewEvent } from '../store/events-store.ts';

/** How long the history is kept. */
export const EVENT_RETENTION_MS = 7 * 86_400_000;

export interface EventLogDeps {
  events: EventsStore;
  log: FastifyBaseLogger;
}

export class EventLog {
  private readonly wake = new EventEmitter();
  /** The state last recorded per live runner: a repeated report of the same state is no event. */
  private readonly runnerStates = new Map<string, string>();

  constructor(private readonly d: EventLogDeps) {
    // One listener per follower; followers come and go with console tabs.
    this.wake.setMaxListeners(0);
  }

  async record(e: Partial<NewEvent> & Pick<NewEvent, 'environment_id' | 'type' | 'message'>): Promise<void> {
    try {
      await this.d.events.append({ runner_id: null, revision: null, data: {}, ...e });
      this.wake.emit(e.environment_id);
    } catch (err) {
      this.d.log.warn({ err, event: e.type }, 'recording an event failed');
    }
  }

  /**
   * A runner's new state, from the record the store returned after the change. Says whether it
   * was recorded, and whether it was the runner becoming ready (a cold start, measured once).
   */
  async runnerState(
    r: RunnerRecord | undefined,
    revision: number | null = null,
    why?: string,
  ): Promise<'ready' | 'recorded' | 'not an event'> {
    if (!r) return 'not an event';
    if (this.runnerStates.get(r.id) === r.state) return 'not an event';
    if (r.ended_at === null) this.runnerStates.set(r.id, r.state);
    else this.runnerStates.delete(r.id);
    const last = r.history[r.history.length - 1];
    const prev = r.history[r.history.length - 2];
    if (!last || last.state !== r.state) return 'not an event';
    // A ready runner going between IDLE and RUNNING with each request is traffic, not an event.
    const traffic =
      prev &&
      (prev.state === 'IDLE' || prev.state === 'RUNNING') &&
      (r.state === 'IDLE' || r.state === 'RUNNING');
    if (traffic) return 'not an event';
    const ready = r.state === 'IDLE' && r.cold_start_ms !== null && r.ready_at === last.at;
    const ending = r.state === 'CRASH_BACKOFF' || r.state === 'TERMINATED' || r.state === 'DRAINING';
    const reason = why ?? (ending ? r.detail : null);
    const message = ready
      ? `runner ${r.id.slice(0, 8)} ready after ${(r.cold_start_ms! / 1000).toFixed(2)} s`
      : `runner ${r.id.slice(0, 8)} ${r.state}${reason ? `: ${reason}` : ''}`;
    await this.record({
      environment_id: r.environment_id,
      type: 'runner.state',
      message,
      runner_id: r.id,
      revision,
      data: {
        state: r.state,
        from: prev?.state ?? null,
        detail: reason ?? r.detail,
        ...(ready ? { cold_start_ms: r.cold_start_ms } : {}),
      },
    });
    return ready ? 'ready' : 'recorded';
  }

  list(envId: string, after: number | undefined, limit: number): Promise<EventRecord[]> {
    return this.d.events.list(envId, after, limit);
  }

  /** Resolves when an event of the environment is recorded here, the signal aborts, or after `ms`. */
  changed(envId: string, signal: AbortSignal, ms: number): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.wake.off(envId, done);
        signal.removeEventListener('abort', done);
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.wake.on(envId, done);
      signal.addEventListener('abort', done, { once: true });
    });
  }

  prune(now: number): Promise<number> {
    return this.d.events.prune(now - EVENT_RETENTION_MS);
  }
}
