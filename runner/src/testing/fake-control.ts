/**
 * A stand-in for control in runner tests: implements the runner protocol routes over node:http,
 * records every call, long-polls pulls, and lets a test queue jobs, cancels, drains and failures.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type {
  HeartbeatBody,
  Job,
  LogLine,
  PullRequestBody,
  ResultBody,
  StateReport,
} from '../../../contract/src/runner-protocol.ts';
import { sleep } from '../retry.ts';

export interface FakeControl {
  url: string;
  token: string;
  states: StateReport[];
  pulls: PullRequestBody[];
  heartbeats: HeartbeatBody[];
  logs: LogLine[];
  results: ResultBody[];
  /** Event streams relayed per request id: each chunk as it arrived, and whether it ended. */
  streams: Map<string, { chunks: string[]; ended: boolean }>;
  enqueue(...jobs: Job[]): void;
  /** Cancels this request id on the next heartbeat. */
  cancel(requestId: string): void;
  /** The caller of this request's stream hangs up: its first chunk is answered `{cancel: true}`. */
  hangUpStream(requestId: string): void;
  /** Reports this receipt lost on the next heartbeat. */
  lose(receipt: string): void;
  /** Answers the next pull or heartbeat with drain: true. */
  askDrain(): void;
  /** The next `n` result reports answer 503, as while control restarts. */
  failResults(n: number): void;
  /**
   * Resolves when `check` returns a truthy value; rejects after `timeoutMs`, a safety net for a
   * hung test, not a speed limit: it is generous because tests must pass on a busy machine.
   */
  waitFor<T>(check: () => T | undefined | false, what: string, timeoutMs?: number): Promise<T>;
  close(): Promise<void>;
}

let receiptCounter = 0;

/** A job with test defaults; the receipt is unique. */
export function job(overrides: Partial<Job> & Pick<Job, 'request_id'>): Job {
  return {
    receipt: `rcpt-${++receiptCounter}`,
    path: 'echo',
    input: {},
    attempt: 1,
    timeout_s: 10,
    lease_s: 30,
    ...overrides,
  };
}

export async function startFakeControl(token = 'test-token'): Promise<FakeControl> {
  const queue: Job[] = [];
  const waiters = new Set<() => void>();
  const pendingCancels: string[] = [];
  const hungUp = new Set<string>();
  const pendingLost: string[] = [];
  let drain = false;
  let resultFailures = 0;

  const wakeAll = () => {
    for (const wake of waiters) wake();
    waiters.clear();
  };

  const control: Omit<FakeControl, 'url' | 'close'> = {
    token,
    states: [],
    pulls: [],
    heartbeats: [],
    logs: [],
    results: [],
    streams: new Map(),
    enqueue(...jobs) {
      queue.push(...jobs);
      wakeAll();
    },
    cancel: (requestId) => pendingCancels.push(requestId),
    hangUpStream: (requestId) => hungUp.add(requestId),
    lose: (receipt) => pendingLost.push(receipt),
    askDrain() {
      drain = true;
      wakeAll();
    },
    failResults(n) {
      resultFailures = n;
    },
    async waitFor(check, what, timeoutMs = 30_000) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const value = check();
        if (value) return value;
        if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
        await sleep(10);
      }
    },
  };

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    if (req.headers.authorization !== `Bearer ${token}`) return send(res, 401, { message: 'bad token' });
    const events = /^\/internal\/v1\/runners\/[^/]+\/requests\/([^/]+)\/events$/.exec(req.url ?? '');
    if (events) {
      const requestId = decodeURIComponent(events[1]!);
      const stream = { chunks: [] as string[], ended: false };
      control.streams.set(requestId, stream);
      for await (const chunk of req) {
        stream.chunks.push((chunk as Buffer).toString('utf8'));
        // As control does: answered early, and the rest is read and dropped.
        if (hungUp.delete(requestId)) send(res, 200, { cancel: true });
      }
      stream.ended = true;
      if (!res.headersSent) send(res, 204);
      return;
    }
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const body: unknown = JSON.parse(Buffer.concat(chunks).toString('utf8') || 'null');
    const route = /^\/internal\/v1\/runners\/[^/]+\/(\w+)$/.exec(req.url ?? '')?.[1];

    switch (route) {
      case 'state':
        control.states.push(body as StateReport);
        // As control does: a draining runner's long poll is answered at once.
        if ((body as StateReport).state === 'DRAINING') wakeAll();
        return send(res, 204);
      case 'pull': {
        const pull = body as PullRequestBody;
        control.pulls.push(pull);
        if (queue.length === 0 && !drain) {
          await new Promise<void>((resolve) => {
            const timer = setTimeout(resolve, pull.wait_ms);
            waiters.add(() => {
              clearTimeout(timer);
              resolve();
            });
            req.socket.once('close', resolve);
          });
        }
        return send(res, 200, { jobs: queue.splice(0, pull.max), drain });
      }
      case 'heartbeat':
        control.heartbeats.push(body as HeartbeatBody);
        return send(res, 200, { cancel: pendingCancels.splice(0), lost: pendingLost.splice(0), drain });
      case 'logs':
        control.logs.push(...(body as { logs: LogLine[] }).logs);
        return send(res, 204);
      case 'results':
        if (resultFailures > 0) {
          resultFailures--;
          return send(res, 503, { message: 'control is restarting' });
        }
        control.results.push(body as ResultBody);
        // Lines that ride with a result are the request's logs as much as those sent on their own.
        control.logs.push(
          ...((body as ResultBody).logs ?? []).map((l) => ({
            ...l,
            request_id: (body as ResultBody).request_id,
          })),
        );
        return send(res, 200, { recorded: true, decision: 'completed' });
      default:
        return send(res, 404, { message: `no route ${req.url}` });
    }
  }

  const server: Server = createServer((req, res) => {
    handle(req, res).catch((err: unknown) => send(res, 500, { message: String(err) }));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    ...control,
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: () =>
      new Promise<void>((resolve) => {
        wakeAll();
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

function send(res: ServerResponse, status: number, body?: unknown): void {
  if (res.headersSent || res.destroyed) return;
  if (body === undefined) {
    res.writeHead(status).end();
    return;
  }
  res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
}
