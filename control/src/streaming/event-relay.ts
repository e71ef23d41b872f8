/**
 * Streaming endpoints inside control: a runner relays an app's server-sent events for one request
 * (runner protocol `stream` route) and the caller's open `fal.stream` connection receives them as
 * they come. In memory, per control process: a caller connected to another control process than
 * the runner's stream sees no events, only the result (the last event) once the request completes.
 *
 * Ownership: the runner's stream route alone opens, feeds and ends a relay; callers only follow.
 */
import { EventEmitter } from 'node:events';

/** Bytes kept for a caller that attaches after the stream began (it sees the whole stream). */
const REPLAY_LIMIT_BYTES = 4 * 1024 * 1024;
/** An ended relay stays this long, for a caller that attaches just after the stream ended. */
const LINGER_MS = 10_000;

export interface RelayFollower {
  /** Receives each chunk as it arrives (and, first, those that arrived before). */
  onChunk(chunk: Buffer): void;
}

export class EventRelay {
  private readonly chunks: Buffer[] = [];
  private bytes = 0;
  /** The replay buffer overflowed: later followers start where the stream is now. */
  private truncated = false;
  private readonly followers = new Set<RelayFollower>();
  private endedResolve: () => void = () => {};
  /** Resolves when the runner's stream ended, cleanly or not. */
  readonly ended: Promise<void> = new Promise((resolve) => {
    this.endedResolve = resolve;
  });
  private isEnded = false;
  private abandonedResolve: () => void = () => {};
  /** Resolves when the caller who asked for the stream hung up: the runner is told to cancel. */
  readonly abandoned: Promise<void> = new Promise((resolve) => {
    this.abandonedResolve = resolve;
  });

  /** The caller hung up (the request is already marked cancelled). */
  abandon(): void {
    this.abandonedResolve();
  }

  push(chunk: Buffer): void {
    if (this.isEnded) return;
    if (!this.truncated) {
      this.bytes += chunk.length;
      if (this.bytes > REPLAY_LIMIT_BYTES) {
        this.truncated = true;
        this.chunks.length = 0;
      } else this.chunks.push(chunk);
    }
    for (const f of this.followers) f.onChunk(chunk);
  }

  end(): void {
    if (this.isEnded) return;
    this.isEnded = true;
    this.endedResolve();
  }

  /** Follows the stream from its start (as far as kept); returns how to stop following. */
  follow(f: RelayFollower): () => void {
    for (const c of this.chunks) f.onChunk(c);
    this.followers.add(f);
    return () => this.followers.delete(f);
  }
}

export class EventRelays {
  private readonly relays = new Map<string, EventRelay>();
  private readonly opened = new EventEmitter();
  /** Requests whose caller hung up before their stream began: it is abandoned as it opens. */
  private readonly abandonedEarly = new Set<string>();

  constructor() {
    this.opened.setMaxListeners(0);
  }

  /** The runner's stream for this request begins (a retried relay replaces the earlier one). */
  open(requestId: string): EventRelay {
    const relay = new EventRelay();
    this.relays.set(requestId, relay);
    relay.ended.then(() => {
      setTimeout(() => {
        if (this.relays.get(requestId) === relay) this.relays.delete(requestId);
      }, LINGER_MS).unref();
    });
    if (this.abandonedEarly.delete(requestId)) relay.abandon();
    this.opened.emit(requestId, relay);
    return relay;
  }

  /**
   * The caller of this request's stream hung up: the runner relaying it (now or once it begins)
   * hears so in the answer to its stream, and cancels the request at the app at once.
   */
  abandon(requestId: string): void {
    const relay = this.relays.get(requestId);
    if (relay) {
      relay.abandon();
      return;
    }
    this.abandonedEarly.add(requestId);
    setTimeout(() => this.abandonedEarly.delete(requestId), LINGER_MS).unref();
  }

  get(requestId: string): EventRelay | undefined {
    return this.relays.get(requestId);
  }

  /** Resolves with the request's relay once its stream begins, or undefined when `until` settles first. */
  whenOpened(requestId: string, until: Promise<unknown>): Promise<EventRelay | undefined> {
    const now = this.relays.get(requestId);
    if (now) return Promise.resolve(now);
    return new Promise((resolve) => {
      const onOpen = (relay: EventRelay) => {
        this.opened.off(requestId, onOpen);
        resolve(relay);
      };
      this.opened.on(requestId, onOpen);
      until.then(
        () => {
          this.opened.off(requestId, onOpen);
          resolve(this.relays.get(requestId));
        },
        () => {
          this.opened.off(requestId, onOpen);
          resolve(this.relays.get(requestId));
        },
      );
    });
  }
}
