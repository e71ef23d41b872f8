/**
 * Hands an app container's output to the runner beside it over HTTP: posts to the runner's app
 * output intake (GANTRY_APP_OUTPUT=http, contract/src/app-output-relay.ts), in the FireLens record
 * format ECS uses. Each post stands alone, so a control that restarts and takes over a running runner
 * just posts again; a relay through the runner's stdin cannot come back on podman, which closes a
 * container's stdin when the attach session that fed it ends.
 *
 * Lines wait while a post is in flight (or the intake is not listening yet: the runner starts after
 * its app) and go in the next one; beyond `maxBuffered` the oldest are dropped.
 */
import { request } from 'node:http';
import type { AppOutputStream } from '../../../contract/src/app-output-relay.ts';

const RETRY_MS = 250;
const MAX_LINES_PER_POST = 1000;

export class IntakeRelay {
  private buffer: string[] = [];
  private busy = false;
  private timer: NodeJS.Timeout | undefined;
  private closed = false;

  constructor(
    private readonly port: number,
    private readonly maxBuffered = 10_000,
  ) {}

  write(stream: AppOutputStream, line: string): void {
    if (this.closed) return;
    this.buffer.push(JSON.stringify({ log: line, source: stream }));
    if (this.buffer.length > this.maxBuffered) this.buffer.splice(0, this.buffer.length - this.maxBuffered);
    if (!this.busy && !this.timer) void this.flush();
  }

  close(): void {
    this.closed = true;
    clearTimeout(this.timer);
    this.buffer = [];
  }

  private async flush(): Promise<void> {
    this.timer = undefined;
    if (this.closed || this.buffer.length === 0) return;
    this.busy = true;
    const batch = this.buffer.splice(0, MAX_LINES_PER_POST);
    const sent = await post(this.port, `${batch.join('\n')}\n`);
    this.busy = false;
    if (!sent) {
      this.buffer.unshift(...batch);
      this.timer = setTimeout(() => void this.flush(), RETRY_MS).unref();
    } else if (this.buffer.length > 0) {
      void this.flush();
    }
  }
}

/** True once the intake took the body. */
function post(port: number, body: string): Promise<boolean> {
  return new Promise((resolve) => {
    const req = request(
      {
        host: '127.0.0.1',
        port,
        method: 'POST',
        path: '/',
        headers: { 'content-type': 'application/x-ndjson', 'content-length': Buffer.byteLength(body) },
        timeout: 10_000,
      },
      (res) => {
        res.resume();
        resolve((res.statusCode ?? 500) < 300);
      },
    );
    req.on('error', () => resolve(false));
    req.on('timeout', () => req.destroy());
    req.end(body);
  });
}
