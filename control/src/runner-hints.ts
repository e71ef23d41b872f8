/**
 * x-fal-runner-hint: a request whose hint a runner served last goes to that runner while it is
 * waiting for work (warm, with a free slot), whoever received the message; otherwise whoever
 * received it serves it. Kept in this process's memory: a hint is a preference, never a promise.
 *
 * Only RequestService drives this: it registers each long poll while it waits, asks `handOff`
 * for every hinted delivery, and reads what was handed to a poll once it stopped waiting.
 */
import type { Job } from '../../contract/src/runner-protocol.ts';
import type { Delivery } from './queue/queue-driver.ts';

/** A runner's long poll while it waits: where hinted jobs can be handed. */
export interface WaitingPull {
  readonly runnerId: string;
  readonly environmentId: string;
  /** Jobs the runner asked for. */
  readonly free: number;
  /** Jobs other pulls handed over. */
  readonly jobs: Job[];
  /** Aborted once a job was handed over: the poll stops waiting and answers. */
  readonly handedOver: AbortController;
  /** The poll's own end: its runner hung up, or was told to drain. */
  readonly ended: AbortSignal;
  /** Hand-offs under way (their attempt is being started for this runner). */
  readonly pending: Set<Promise<unknown>>;
}

/** What a hand-off did with a delivery. */
export type HandOff = 'handed' | 'held' | 'stale' | 'not handed';

const hintKey = (environmentId: string, hint: string) => `${environmentId}\u0000${hint}`;

export class RunnerHints {
  /** Environment and hint → the runner that last started a request with it. */
  private readonly lastServed = new Map<string, string>();
  /** Polls waiting for work right now, by runner. */
  private readonly waiting = new Map<string, WaitingPull>();

  /** A runner started a request with this hint. */
  served(environmentId: string, hint: string, runnerId: string): void {
    this.lastServed.set(hintKey(environmentId, hint), runnerId);
  }

  /** A runner ended: its hints go to whoever serves them next. */
  forget(runnerId: string): void {
    for (const [k, r] of this.lastServed) if (r === runnerId) this.lastServed.delete(k);
  }

  /** A poll starts waiting: hand-offs may reach it until `stopWaiting`. */
  wait(runnerId: string, environmentId: string, free: number, ended: AbortSignal): WaitingPull {
    const w: WaitingPull = {
      runnerId,
      environmentId,
      free,
      jobs: [],
      handedOver: new AbortController(),
      ended,
      pending: new Set(),
    };
    this.waiting.set(runnerId, w);
    return w;
  }

  /** The poll stopped waiting: the jobs handed to it, once every hand-off under way has settled. */
  async stopWaiting(w: WaitingPull): Promise<Job[]> {
    if (this.waiting.get(w.runnerId) === w) this.waiting.delete(w.runnerId);
    while (w.pending.size > 0) await Promise.allSettled([...w.pending]);
    return w.jobs;
  }

  /**
   * Offers a hinted delivery to the runner that served the hint last. `start` starts the attempt
   * for that runner (RequestService.startJob); `retiring` says whether a runner may take no work.
   * `stale`: the request will never run again (its message can go).
   */
  async handOff(
    receiver: { id: string; environment_id: string },
    d: Delivery,
    start: (runnerId: string) => Promise<Job | 'refused' | 'held' | undefined>,
    retiring: (runnerId: string) => boolean,
  ): Promise<HandOff> {
    const hint = d.message.hint;
    if (!hint) return 'not handed';
    const preferred = this.lastServed.get(hintKey(receiver.environment_id, hint));
    if (!preferred || preferred === receiver.id || retiring(preferred)) return 'not handed';
    const w = this.waiting.get(preferred);
    if (!w || w.environmentId !== receiver.environment_id || w.ended.aborted) return 'not handed';
    // A slot is taken before the attempt starts, so two hand-offs at once cannot overfill it.
    if (w.jobs.length + w.pending.size >= w.free) return 'not handed';
    const handing = (async () => {
      const job = await start(preferred);
      if (job && job !== 'refused' && job !== 'held') {
        w.jobs.push(job);
        w.handedOver.abort();
      }
      return job;
    })();
    w.pending.add(handing);
    try {
      const job = await handing;
      // Refused: the preferred runner was told to drain meanwhile; the receiver serves it.
      if (job === 'refused') return 'not handed';
      // Held: another attempt holds the request; start put the message off itself.
      if (job === 'held') return 'held';
      return job ? 'handed' : 'stale';
    } finally {
      w.pending.delete(handing);
    }
  }
}
