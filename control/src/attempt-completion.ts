/**
 * One attempt's ends, as records: the job a runner receives to start it, and what the request
 * completes with, from the app's answer (its bytes as the runner reported them, and, decoded from
 * them, what webhooks and error texts read) or composed by control (crash, timeout, lost).
 */
import type { Job, ResultBody } from '../../contract/src/runner-protocol.ts';
import type { RequestRecord } from './domain.ts';
import { decodeBody } from './kept-bodies.ts';
import { judgeAttempt } from './retry-policy.ts';
import type { Completion } from './store/requests-store.ts';

/** How long the app took, from the runner's timestamps. */
export function inferenceMs(r: ResultBody): number | null {
  const ms = Date.parse(r.finished_at) - Date.parse(r.started_at);
  return Number.isFinite(ms) ? ms : null;
}

/** What a request completes with when the app answered. */
export function responseCompletion(r: ResultBody, errorType: string | null = null): Completion {
  const status = r.status_code ?? 500;
  const raw = r.body_base64 === undefined ? undefined : Buffer.from(r.body_base64, 'base64');
  const body = raw === undefined ? r.body : decodeBody(raw, r.content_type);
  return {
    result_status: status,
    result_body: body ?? null,
    ...(raw ? { result_raw: raw } : {}),
    result_content_type: r.content_type ?? 'application/json',
    error: status >= 400 ? errorText(body, status) : null,
    error_type: errorType ?? (status >= 500 ? 'runner_server_error' : null),
    inference_ms: inferenceMs(r),
  };
}

function errorText(body: unknown, status: number): string {
  if (body && typeof body === 'object' && 'detail' in body) {
    const d = (body as { detail: unknown }).detail;
    return typeof d === 'string' ? d : JSON.stringify(d);
  }
  if (typeof body === 'string' && body.length > 0) return body.slice(0, 2000);
  return `The app answered HTTP ${status}.`;
}

/** The job a runner receives for an attempt that just started. */
export function jobFor(
  started: RequestRecord,
  receipt: string,
  o: { timeoutS: number; leaseS: number; filesUrl: string | undefined },
): Job {
  return {
    receipt,
    request_id: started.id,
    path: started.path,
    // The caller's bytes when they were kept; JSON of the input for older requests.
    ...(started.input_raw
      ? {
          input: null,
          input_base64: Buffer.from(started.input_raw).toString('base64'),
          content_type: started.input_content_type ?? 'application/json',
        }
      : { input: started.input }),
    ...(o.filesUrl ? { files_url: o.filesUrl } : {}),
    attempt: started.attempts,
    timeout_s: o.timeoutS,
    lease_s: o.leaseS,
    // Lets the runner resend a job a closing keep-alive connection lost (the app never answered):
    // only when losing the connection would have this attempt retried anyway.
    ...(judgeAttempt({
      outcome: 'connection_error',
      attempts: started.attempts,
      noRetry: started.no_retry || started.cancel_requested,
    }).retry
      ? { retryable: true }
      : {}),
  };
}

/** A result control composes itself (no answer from the app): `{detail}` as JSON. */
export function controlCompletion(
  status: number,
  detail: string,
  errorType: string | null,
  inferenceMs: number | null,
): Completion {
  return {
    result_status: status,
    result_body: { detail },
    result_content_type: 'application/json',
    error: detail,
    error_type: errorType,
    inference_ms: inferenceMs,
  };
}
