/**
 * One attempt of a job against the app: `POST /<path>` on localhost, and the outcome as the runner
 * reports it to control. node:http rather than fetch because fetch gives up on its own after 300 s
 * without headers, and jobs may legitimately run longer than that.
 */
import { Agent, request } from 'node:http';
import type { Job, ResultBody } from '../../contract/src/runner-protocol.ts';
import { type AppExit, describeExit } from './app-process.ts';

export type AttemptResult = Pick<ResultBody, 'outcome' | 'status_code' | 'body' | 'content_type' | 'error'>;

export interface ForwardOptions {
  port: number;
  agent: Agent;
  job: Job;
  /** Aborting ends the attempt as `crash` with the reason's message (the runner is draining). */
  signal: AbortSignal;
  /** Whether the app process died, waiting briefly: a reset socket can arrive before the exit event. */
  appExit: () => Promise<AppExit | undefined>;
}

/**
 * A fresh connection per call: reusing an idle keep-alive socket the app is just closing would turn
 * into a spurious connection_error, and connecting over loopback costs next to nothing.
 */
export function createAppAgent(): Agent {
  return new Agent({ keepAlive: false });
}

export async function forwardJob(options: ForwardOptions): Promise<AttemptResult> {
  const { job, signal } = options;
  const payload = JSON.stringify(job.input ?? null);
  return new Promise<AttemptResult>((resolve) => {
    let settled = false;
    const finish = (result: AttemptResult) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      signal.removeEventListener('abort', onAbort);
      resolve(result);
    };

    const req = request(
      {
        host: '127.0.0.1',
        port: options.port,
        method: 'POST',
        path: `/${job.path.replace(/^\/+/, '')}`,
        agent: options.agent,
        headers: {
          'content-type': 'application/json',
          'content-length': Buffer.byteLength(payload),
          'x-fal-request-id': job.request_id,
        },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('error', onError);
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          const contentType = res.headers['content-type'];
          finish({
            outcome: 'response',
            status_code: res.statusCode ?? 0,
            body: parseBody(text, contentType),
            ...(contentType === undefined ? {} : { content_type: contentType }),
          });
        });
      },
    );

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

    function onError(err: Error) {
      if (settled) return;
      options.appExit().then((exit) => {
        if (exit) {
          finish({ outcome: 'crash', error: `the app ${describeExit(exit)} during the request` });
        } else {
          const code = (err as NodeJS.ErrnoException).code;
          finish({ outcome: 'connection_error', error: `could not reach the app: ${code ?? err.message}` });
        }
      });
    }
    req.on('error', onError);
    req.end(payload);
  });
}

/** Tells the app a caller cancelled this request (fal's convention: `POST /<path>/cancel`). */
export function cancelJob(port: number, agent: Agent, job: Job): Promise<number> {
  const path = job.path.replace(/^\/+|\/+$/g, '');
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: '127.0.0.1',
        port,
        method: 'POST',
        path: path === '' ? '/cancel' : `/${path}/cancel`,
        agent,
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

function parseBody(text: string, contentType: string | undefined): unknown {
  if (contentType && /[/+]json\b/i.test(contentType)) {
    try {
      return JSON.parse(text);
    } catch {
      return text;
    }
  }
  return text;
}
