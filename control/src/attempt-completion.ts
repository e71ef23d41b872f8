/**
 * What a request completes with when its app answered: the answer's bytes as the runner reported
 * them, and, decoded from them, what webhooks and error texts read.
 */
import type { ResultBody } from '../../contract/src/runner-protocol.ts';
import { decodeBody } from './kept-bodies.ts';
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
