/**
 * Hostile input and hostile app output through the real control service (PGlite, the embedded
 * queue, the HTTP routes): nothing a caller sends gets a 5xx, and whatever an app returns, its
 * request completes once with its logs stored once.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ControlService } from './app.ts';
import type { Store } from './store/store.ts';
import { type ControlFixture, type RecordingCompute, startControl } from './testing/control-fixture.ts';

const ENV = '/v1/apps/t/app/environments/production';
let fx: ControlFixture;
let svc: ControlService;
let store: Store;
let compute: RecordingCompute;
let KEY = '';

beforeAll(async () => {
  fx = await startControl();
  ({ svc, store, compute, key: KEY } = fx);
  await fx.addApp('app');
});
afterAll(async () => {
  await fx?.close();
});

function send(method: 'GET' | 'POST' | 'PATCH', url: string, body?: string, key = true) {
  return svc.app.inject({
    method,
    url,
    headers: {
      ...(key ? { authorization: `Key ${KEY}` } : {}),
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
    },
    ...(body === undefined ? {} : { payload: body }),
  });
}

describe('hostile input gets a 4xx with a stable code', () => {
  it('a 10,000-deep JSON body', async () => {
    const deep = `${'['.repeat(10_000)}${']'.repeat(10_000)}`;
    for (const url of ['/queue/t/app', `${ENV}/revisions`]) {
      const res = await send('POST', url, `{"a":${deep}}`);
      expect([url, res.statusCode, res.json().code]).toEqual([url, 400, 'GANTRY_ERR_JSON_TOO_DEEP']);
    }
  });

  it('a lone surrogate in an input', async () => {
    const res = await send('POST', '/queue/t/app', '{"prompt":"cut emoji \\ud83d"}', false);
    expect([res.statusCode, res.json().code]).toEqual([400, 'GANTRY_ERR_BAD_JSON']);
    // A whole pair, escaped, is fine.
    const ok = await send('POST', '/queue/t/app', '{"prompt":"\\ud83d\\ude00"}', false);
    expect(ok.statusCode).toBe(200);
  });

  it('a NUL in a path parameter, with or without a key', async () => {
    for (const url of [
      '/queue/t/%00/requests/x/status',
      '/queue/t/app/requests/%00/status',
      `${ENV}/requests/%00/logs`,
      '/v1/apps/t/%00',
    ]) {
      for (const key of [true, false]) {
        const res = await send('GET', url, undefined, key);
        expect([url, key, res.statusCode < 500]).toEqual([url, key, true]);
      }
    }
    const runner = await svc.app.inject({
      method: 'POST',
      url: '/internal/v1/runners/%00/pull',
      payload: { max: 1, wait_ms: 0 },
    });
    expect(runner.statusCode).toBeGreaterThanOrEqual(400);
    expect(runner.statusCode).toBeLessThan(500);
  });

  it('after=1e20 on the log routes', async () => {
    const sub = await send('POST', '/queue/t/app', '{}', false);
    const id = sub.json().request_id as string;
    for (const url of [`${ENV}/requests/${id}/logs?after=1e20`, `${ENV}/logs?after=100000000000000000000`]) {
      const res = await send('GET', url);
      expect([url, res.statusCode]).toEqual([url, 400]);
    }
  });

  it('scaling settings named like Object.prototype members', async () => {
    for (const name of ['constructor', 'toString', '__proto__', 'hasOwnProperty', 'valueOf']) {
      const res = await send('PATCH', `${ENV}/scaling`, `{"${name}": 1}`);
      expect([name, res.statusCode, res.json().code]).toEqual([name, 400, 'GANTRY_ERR_INVALID_SETTING']);
    }
  });
});

describe('hostile app output', () => {
  /** Submits a request and has the environment's runner take it; returns what the runner holds. */
  async function taken() {
    const sub = await send('POST', '/queue/t/app', '{}', false);
    const requestId = sub.json().request_id as string;
    const s = compute.started[0]!;
    const call = (route: string, payload: unknown) => fx.asRunner(s, route, payload);
    expect((await call('state', { state: 'IDLE' })).status).toBe(204);
    for (let i = 0; i < 20; i++) {
      const jobs = (await call('pull', { max: 10, wait_ms: 0 })).body.jobs as {
        receipt: string;
        request_id: string;
      }[];
      const job = jobs.find((j) => j.request_id === requestId);
      if (job) return { requestId, receipt: job.receipt, call };
    }
    throw new Error('the runner never received the request');
  }

  const now = new Date().toISOString();
  const resultText = (receipt: string, requestId: string, body: string, message: string) =>
    `{"receipt":"${receipt}","request_id":"${requestId}","outcome":"response","status_code":200,` +
    `"body":${body},"started_at":"${now}","finished_at":"${now}",` +
    `"logs":[{"message":"${message}","level":"INFO","source":"user","timestamp":"${now}"}]}`;

  for (const [what, text] of [
    ['a lone surrogate', '\\ud83d'],
    ['a NUL', '\\u0000'],
  ] as const) {
    it(`a result and a log line with ${what} complete the request once, with U+FFFD in its place`, async () => {
      const { requestId, receipt, call } = await taken();
      const body = `{"text":"ok ${text}"}`;
      const first = await call('results', resultText(receipt, requestId, body, `line ${text}`));
      expect([first.status, first.body.decision]).toEqual([200, 'completed']);
      // The runner did not hear the answer and reports again: nothing changes, nothing is stored twice.
      const again = await call('results', resultText(receipt, requestId, body, `line ${text}`));
      expect(again.status).toBe(200);
      const rec = await store.requests.get(requestId);
      expect(rec?.status).toBe('COMPLETED');
      expect(rec?.attempts).toBe(1);
      expect(rec?.result_body).toEqual({ text: 'ok \ufffd' });
      const logs = await store.logs.forRequest(requestId);
      expect(logs.map((l) => l.message)).toEqual(['line \ufffd']);
    });
  }
});
