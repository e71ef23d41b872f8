/**
 * One attempt of a job against the app: `POST /<path>` on localhost, and the outcome as the runner
 * reports it to control. node:http rather than fetch because fetch gives up on its own after 300 s
 * without headers, and jobs may legitimately run longer than that.
 */
import { Agent, type ClientRequest, type IncomingMessage, request } from 'node:http';
import { PassThrough, type Readable } from 'node:stream';
import {
  FILES_URL_HEADER,
  type Job,
  type ResultBody,
  STREAM_ERROR_EVENT,
} from '../../contract/src/runner-protocol.ts';
import { type AppExit, describeExit } from './app-process.ts';
import { LastEventTracker } from './sse-last-event.ts';

export type AttemptResult = Pick<
  ResultBody,
  'outcome' | 'status_code' | 'body' | 'body_base64' | 'content_type' | 'error' | 'streamed'
>;

export interface ForwardOptions {
  port: number;
  agent: Agent;
  job: Job;
  /** Aborting ends the attempt as `crash` with the reason's message (the runner is draining). */
  signal: AbortSignal;
  /** Whether the app process died, waiting briefly: a reset socket can arrive before the exit event. */
  appExit: () => Promise<AppExit | undefined>;
  /**
   * Relays the app's server-sent events to control as they arrive. Without it an event stream is
   * read whole and reported like any other body.
   */
  relayEvents?: (events: Readable) => Promise<void>;
}

/**
 * Keep-alive to the app: a fresh loopback connection per job costs about a millisecond of the fast
 * path. A connection idle for longer than APP_IDLE_MS is closed by the runner, below the idle
 * timeouts app servers commonly use (uvicorn and Node 5 s, gunicorn 2 s), so the app rarely closes
 * one just as a job is sent on it; when that race still happens, see `mayResend`.
 */
export const APP_IDLE_MS = 1_000;

export function createAppAgent(): Agent {
  return new Agent({ keepAlive: true, timeout: APP_IDLE_MS });
}

/** The one resend after a reused connection broke goes on a new connection, never another idle one. */
const FRESH_CONNECTION = new Agent({ keepAlive: false });

/**
 * Whether a failed send may go out again, once, on a new connection. What the runner can know: the
 * connection had served an earlier job, it broke (reset, or closed under the write) and no byte of
 * an answer came. That is what an app closing an idle connection as the job arrives looks like,
 * and then the app never read the job. It is also what an app that read the job and dropped the
 * connection without answering looks like, which the runner cannot tell apart: so only a job
 * control marked `retryable` (it would retry this attempt anyway) is resent; any other is reported
 * `connection_error` as it always was.
 */
function mayResend(job: Job, req: ClientRequest, answered: boolean, err: Error): boolean {
  const code = (err as NodeJS.ErrnoException).code;
  return (
    job.retryable === true && req.reusedSocket && !answered && (code === 'ECONNRESET' || code === 'EPIPE')
  );
}

export async function forwardJob(options: ForwardOptions): Promise<AttemptResult> {
  const { job, signal } = options;
  // The caller's bytes as they were sent, when control kept them; JSON of the input otherwise.
  const payload =
    job.input_base64 === undefined
      ? Buffer.from(JSON.stringify(job.input ?? null))
      : Buffer.from(job.input_base64, 'base64');
  const payloadType =
    job.input_base64 === undefined ? 'application/json' : (job.content_type ?? 'application/json');
  /** Set while an event stream is being relayed: a failure then ends it with an error event. */
  let relay: { events: PassThrough; done: Promise<void> } | undefined;
  return new Promise<AttemptResult>((resolve) => {
    let settled = false;
    const finish = (result: AttemptResult) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      signal.removeEventListener('abort', onAbort);
      if (!relay) return resolve(result);
      // A stream that broke off: the caller already has some events and gets an error event to
      // end on; the request completes as failed (a 500, never retried: events were delivered).
      const broken = result.outcome !== 'response';
      const detail = result.error ?? 'the stream ended';
      if (broken) {
        relay.events.end(
          `event: ${STREAM_ERROR_EVENT}\ndata: ${JSON.stringify({ detail, error_type: errorTypeOf(result) })}\n\n`,
        );
      } else relay.events.end();
      relay.done.then(
        () => resolve(broken ? brokenStream(detail) : result),
        () => resolve(broken ? brokenStream(detail) : result),
      );
    };

    /** Whether the app's answer began on the current request (then it is never resent). */
    let answered = false;
    let resent = false;
    const send = (agent: Agent): ClientRequest => {
      const sent = request(
        {
          host: '127.0.0.1',
          port: options.port,
          method: 'POST',
          path: `/${job.path.replace(/^\/+/, '')}`,
          agent,
          headers: {
            'content-type': payloadType,
            'content-length': payload.length,
            'x-fal-request-id': job.request_id,
            ...(job.files_url ? { [FILES_URL_HEADER]: job.files_url } : {}),
          },
        },
        (res) => {
          answered = true;
          const contentType = res.headers['content-type'];
          const status = res.statusCode ?? 0;
          res.on('error', onError);
          // An app's socket closing before the body ended is a break, not an answer.
          res.on('aborted', () => onError(new Error('the app closed the connection mid-answer')));
          if (options.relayEvents && status === 200 && isEventStream(contentType)) {
            return relayStream(res);
          }
          const chunks: Buffer[] = [];
          res.on('data', (chunk: Buffer) => chunks.push(chunk));
          res.on('end', () => {
            if (!res.complete) return;
            finish({
              outcome: 'response',
              status_code: status,
              body_base64: Buffer.concat(chunks).toString('base64'),
              ...(contentType === undefined ? {} : { content_type: contentType }),
            });
          });
        },
      );
      sent.on('error', (err) => onError(err, sent));
      return sent;
    };
    let req = send(options.agent);

    /** Events go to control as they come; the last one's data is the request's result. */
    function relayStream(res: IncomingMessage) {
      const events = new PassThrough();
      const last = new LastEventTracker();
      relay = { events, done: options.relayEvents!(events) };
      // A relay that fails (control unreachable) loses the live events, not the result.
      relay.done.catch(() => {});
      res.on('data', (chunk: Buffer) => {
        last.push(chunk);
        events.write(chunk);
      });
      res.on('end', () => {
        if (!res.complete) return;
        const data = last.data();
        finish({
          outcome: 'response',
          status_code: 200,
          body_base64: Buffer.from(data ?? 'null').toString('base64'),
          content_type: 'application/json',
          streamed: true,
        });
      });
    }

    const timer = setTimeout(() => {
      finish({ outcome: 'timeout', error: `the app did not answer within ${job.timeout_s} s` });
      req.destroy();
    }, job.timeout_s * 1000);

    const onAbort = () => {
      const reason: unknown = signal.reason;
      finish({ outcome: 'crash', error: reason instanceof Error ? reason.message : String(reason) });
      req.destroy();
    };
    if (signal.aborted) return onAbort();
    signal.addEventListener('abort', onAbort, { once: true });

    /** `from`: the request that failed, when it was the request itself (not its answer). */
    function onError(err: Error, from?: ClientRequest) {
      // A late error of a request already replaced by its resend says nothing about the job.
      if (settled || (from !== undefined && from !== req)) return;
      if (from !== undefined && !resent && mayResend(job, from, answered, err)) {
        resent = true;
        req = send(FRESH_CONNECTION);
        req.end(payload);
        return;
      }
      options.appExit().then((exit) => {
        if (exit) {
          finish({ outcome: 'crash', error: `the app ${describeExit(exit)} during the request` });
        } else {
          const code = (err as NodeJS.ErrnoException).code;
          finish({ outcome: 'connection_error', error: `could not reach the app: ${code ?? err.message}` });
        }
      });
    }
    req.end(payload);
  });
}

/**
 * Tells the app a caller cancelled this request (fal's convention: `POST /<path>/cancel`). On a new
 * connection: a cancel is rare, and one lost to an idle connection the app is closing would leave
 * the app working on a request nobody waits for.
 */
export function cancelJob(port: number, job: Job): Promise<number> {
  const path = job.path.replace(/^\/+|\/+$/g, '');
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: '127.0.0.1',
        port,
        method: 'POST',
        path: path === '' ? '/cancel' : `/${path}/cancel`,
        agent: FRESH_CONNECTION,
        headers: { 'x-fal-request-id': job.request_id, 'content-length': 0 },
        timeout: 10_000,
      },
      (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
      },
    );
    req.on('timeout', () => req.destroy(new Error('the app did not answer the cancel within 10 s')));
    req.on('error', reject);
    req.end();
  });
}

function isEventStream(contentType: string | undefined): boolean {
  return (contentType ?? '').toLowerCase().startsWith('text/event-stream');
}

function errorTypeOf(result: AttemptResult): string {
  return result.outcome === 'timeout' ? 'request_timeout' : 'runner_server_error';
}

/** What a stream that broke off completes with: an answer (so it is not retried), failed. */
function brokenStream(detail: string): AttemptResult {
  return {
    outcome: 'response',
    status_code: 500,
    body_base64: Buffer.from(JSON.stringify({ detail: `the event stream broke off: ${detail}` })).toString(
      'base64',
    ),
    content_type: 'application/json',
    streamed: true,
  };
}
