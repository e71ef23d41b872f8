/**
 * Ships the app's output to control in batches (every `flushMs` or `batchLines` lines) and
 * attributes each line to a request: by the `[gantry:req=<id>] ` prefix, or, unprefixed, to the only
 * request in flight when there is exactly one. A line that comes late with the time it was written
 * (a log router batches) goes to the only request in flight at that time instead.
 */

import { parseRequestLogPrefix } from '../../contract/src/app-log-prefix.ts';
import type { LogLine } from '../../contract/src/runner-protocol.ts';
import type { OutputStream } from './app-process.ts';
import type { RunnerLog } from './runner-log.ts';

export interface LogShipperOptions {
  send: (logs: LogLine[]) => Promise<void>;
  /** Request ids the app is working on right now. */
  inFlight: () => readonly string[];
  log: RunnerLog;
  flushMs?: number;
  batchLines?: number;
  /** Lines kept while control is unreachable; the oldest go first beyond this. */
  maxBuffered?: number;
}

/** How long a request's span is kept for lines that arrive late (a log router flushes every ~1 s). */
const SPAN_KEPT_MS = 60_000;

/** The protocol's limits: lines per call and characters per message. */
const MAX_LINES_PER_CALL = 1000;
const MAX_MESSAGE_CHARS = 16_384;

export class LogShipper {
  private buffer: LogLine[] = [];
  private timer: NodeJS.Timeout | undefined;
  private sending: Promise<void> | undefined;
  private dropped = 0;
  /** When each recent request was in flight (ms), for lines that arrive with their own time. */
  private readonly spans = new Map<string, { from: number; to?: number }>();
  private readonly flushMs: number;
  private readonly batchLines: number;
  private readonly maxBuffered: number;

  constructor(private readonly options: LogShipperOptions) {
    this.flushMs = options.flushMs ?? 100;
    this.batchLines = options.batchLines ?? 100;
    this.maxBuffered = options.maxBuffered ?? 10_000;
  }

  /** A request went in flight (the runner calls this and `ended`, so late lines find their request). */
  began(requestId: string, now = Date.now()): void {
    this.spans.set(requestId, { from: now });
    for (const [id, span] of this.spans)
      if (span.to !== undefined && now - span.to > SPAN_KEPT_MS) this.spans.delete(id);
  }

  ended(requestId: string, now = Date.now()): void {
    const span = this.spans.get(requestId);
    if (span) span.to = now;
  }

  /** `at`: when the app wrote the line, if it arrived later than that (ms). */
  push(line: string, stream: OutputStream, at?: number): void {
    const { requestId, message } = parseRequestLogPrefix(line);
    const owner = requestId ?? (at === undefined ? this.onlyInFlight() : this.onlyInFlightAt(at));
    this.buffer.push({
      ...(owner === undefined ? {} : { request_id: owner }),
      message: message.length > MAX_MESSAGE_CHARS ? `${message.slice(0, MAX_MESSAGE_CHARS - 1)}…` : message,
      level: stream === 'stdout' ? 'STDOUT' : 'STDERR',
      source: 'user',
      timestamp: new Date(at ?? Date.now()).toISOString(),
    });
    if (this.buffer.length > this.maxBuffered) {
      this.dropped += this.buffer.length - this.maxBuffered;
      this.buffer.splice(0, this.buffer.length - this.maxBuffered);
    }
    if (this.buffer.length >= this.batchLines) void this.flush();
    else this.timer ??= setTimeout(() => void this.flush(), this.flushMs);
  }

  private onlyInFlight(): string | undefined {
    const inFlight = this.options.inFlight();
    return inFlight.length === 1 ? inFlight[0] : undefined;
  }

  private onlyInFlightAt(at: number): string | undefined {
    const then = [...this.spans].filter(([, s]) => s.from <= at && (s.to === undefined || at <= s.to));
    return then.length === 1 ? then[0]![0] : undefined;
  }

  /** Sends what is buffered; never throws (a failed batch stays buffered for the next try). */
  flush(): Promise<void> {
    if (this.timer) {
      clearTimeout(this.timer);
      this.timer = undefined;
    }
    // One call at a time keeps lines in order; a flush during a send chains after it.
    this.sending = (this.sending ?? Promise.resolve()).then(() => this.sendBuffered());
    return this.sending;
  }

  /**
   * Takes the buffered lines of one request out of the batch, to send them with its result. Any
   * batch already on its way goes first, so the request's lines stay in order.
   */
  async takeFor(requestId: string): Promise<LogLine[]> {
    await this.sending;
    const mine = this.buffer.filter((l) => l.request_id === requestId).slice(-MAX_LINES_PER_CALL);
    if (mine.length > 0) this.buffer = this.buffer.filter((l) => l.request_id !== requestId);
    return mine;
  }

  /** Flushes until the buffer is empty or a send fails; for shutdown. */
  async close(): Promise<void> {
    for (let i = 0; i < 100 && this.buffer.length > 0; i++) {
      const before = this.buffer.length;
      await this.flush();
      if (this.buffer.length >= before) break;
    }
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
  }

  private async sendBuffered(): Promise<void> {
    while (this.buffer.length > 0) {
      const batch = this.buffer.splice(0, MAX_LINES_PER_CALL);
      try {
        await this.options.send(batch);
      } catch (err) {
        this.buffer.unshift(...batch);
        this.options.log.warn('could not ship app logs to control; will retry', {
          lines: this.buffer.length,
          error: err instanceof Error ? err.message : String(err),
        });
        this.timer ??= setTimeout(() => void this.flush(), Math.max(this.flushMs, 1_000));
        return;
      }
    }
    if (this.dropped > 0) {
      this.options.log.warn('dropped app log lines while control was unreachable', { lines: this.dropped });
      this.dropped = 0;
    }
  }
}
