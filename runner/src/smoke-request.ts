/**
 * The deploy gate's smoke request: a rollout's first runner of a new revision calls the app once it
 * is healthy, and becomes ready only if the answer has the expected status. A health check says the
 * server is up; this says an endpoint works (weights load, the input schema still fits).
 */
import type { SmokeRequest } from '../../contract/src/scaling-settings.ts';

/** Parses RUNNER_ENV.smoke; a problem is returned as text for the config's error list. */
export function parseSmokeSetting(raw: string): SmokeRequest | string {
  try {
    const v = JSON.parse(raw) as Partial<SmokeRequest>;
    if (typeof v.path === 'string' && typeof v.expect_status === 'number') {
      return { path: v.path, input: v.input ?? {}, expect_status: v.expect_status };
    }
  } catch {
    // Reported below.
  }
  return 'a JSON object {"path", "input", "expect_status"}';
}

/**
 * Sends the smoke request; undefined when the answer had the expected status, otherwise why not
 * (with the start of the app's answer, so the deploy's failure shows it).
 */
export async function runSmokeRequest(o: {
  baseUrl: string;
  smoke: SmokeRequest;
  runnerId: string;
  timeoutMs: number;
  signal?: AbortSignal;
  fetch?: typeof globalThis.fetch;
}): Promise<string | undefined> {
  const { smoke } = o;
  const what = `smoke request POST ${smoke.path}`;
  const signals = [AbortSignal.timeout(o.timeoutMs), ...(o.signal ? [o.signal] : [])];
  try {
    const res = await (o.fetch ?? globalThis.fetch)(`${o.baseUrl}${smoke.path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-fal-request-id': `smoke-${o.runnerId}` },
      body: JSON.stringify(smoke.input),
      signal: AbortSignal.any(signals),
    });
    const body = await res.text();
    if (res.status === smoke.expect_status) return undefined;
    const excerpt = body.length > 300 ? `${body.slice(0, 300)}…` : body;
    return `${what} answered ${res.status}, expected ${smoke.expect_status}${excerpt ? `: ${excerpt}` : ''}`;
  } catch (err) {
    const timedOut = err instanceof Error && (err.name === 'TimeoutError' || err.name === 'AbortError');
    return timedOut
      ? `${what} got no answer within ${o.timeoutMs / 1000} s`
      : `${what} failed: ${err instanceof Error ? err.message : String(err)}`;
  }
}
