import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, expect, it } from 'vitest';
import {
  ControlHttpError,
  ControlProtocolError,
  ControlUnreachableError,
  createRunnerClient,
  isRetryableControlError,
} from './runner-client.ts';

interface Seen {
  url: string;
  method: string | undefined;
  headers: Headers;
  body: unknown;
}

function fakeFetch(answer: (seen: Seen) => Response): { fetch: typeof globalThis.fetch; seen: Seen[] } {
  const seen: Seen[] = [];
  const fetch: typeof globalThis.fetch = async (input, init) => {
    const entry: Seen = {
      url: String(input),
      method: init?.method,
      headers: new Headers(init?.headers),
      body: JSON.parse(String(init?.body)),
    };
    seen.push(entry);
    return answer(entry);
  };
  return { fetch, seen };
}

const json = (body: unknown, status = 200) =>
  new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/json' } });

describe('runner client', () => {
  it('calls the protocol routes with the runner id and bearer token', async () => {
    const { fetch, seen } = fakeFetch((s) => {
      if (s.url.endsWith('/pull')) return json({ jobs: [], drain: false });
      if (s.url.endsWith('/heartbeat')) return json({ cancel: ['r1'], lost: [], drain: true });
      if (s.url.endsWith('/results')) return json({ recorded: true, decision: 'completed' });
      return new Response(null, { status: 204 });
    });
    const client = createRunnerClient({
      baseUrl: 'http://control:8080/',
      runnerId: 'run 1',
      token: 'tok',
      fetch,
    });

    await client.reportState({ state: 'IDLE', in_flight: 0 });
    expect(await client.pull({ max: 2, wait_ms: 10 })).toEqual({ jobs: [], drain: false });
    expect(await client.heartbeat({ receipts: ['a'], in_flight: 1 })).toEqual({
      cancel: ['r1'],
      lost: [],
      drain: true,
    });
    await client.sendLogs({ logs: [] });
    const result = await client.reportResult({
      receipt: 'a',
      request_id: 'r1',
      outcome: 'response',
      status_code: 200,
      started_at: 't0',
      finished_at: 't1',
    });
    expect(result).toEqual({ recorded: true, decision: 'completed' });

    expect(seen.map((s) => s.url)).toEqual([
      'http://control:8080/internal/v1/runners/run%201/state',
      'http://control:8080/internal/v1/runners/run%201/pull',
      'http://control:8080/internal/v1/runners/run%201/heartbeat',
      'http://control:8080/internal/v1/runners/run%201/logs',
      'http://control:8080/internal/v1/runners/run%201/results',
    ]);
    for (const s of seen) {
      expect(s.method).toBe('POST');
      expect(s.headers.get('authorization')).toBe('Bearer tok');
      expect(s.headers.get('content-type')).toBe('application/json');
    }
    expect(seen[1]?.body).toEqual({ max: 2, wait_ms: 10 });
  });

  it('throws ControlHttpError with status and parsed body on non-2xx', async () => {
    const { fetch } = fakeFetch(() =>
      json({ code: 'GANTRY_ERR_RUNNER_UNKNOWN', message: 'no such runner' }, 404),
    );
    const client = createRunnerClient({ baseUrl: 'http://c', runnerId: 'r', token: 't', fetch });
    const err = await client.reportState({ state: 'IDLE' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ControlHttpError);
    expect(err).toMatchObject({ status: 404, body: { code: 'GANTRY_ERR_RUNNER_UNKNOWN' } });
    expect(isRetryableControlError(err)).toBe(false);

    const { fetch: fetch503 } = fakeFetch(() => new Response('restarting', { status: 503 }));
    const client503 = createRunnerClient({ baseUrl: 'http://c', runnerId: 'r', token: 't', fetch: fetch503 });
    const err503 = await client503.sendLogs({ logs: [] }).catch((e: unknown) => e);
    expect(err503).toMatchObject({ status: 503, body: 'restarting' });
    expect(isRetryableControlError(err503)).toBe(true);
  });

  it('reports a refused connection as ControlUnreachableError, which is retryable', async () => {
    const server = createServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const port = (server.address() as AddressInfo).port;
    await new Promise((resolve) => server.close(resolve));

    const client = createRunnerClient({ baseUrl: `http://127.0.0.1:${port}`, runnerId: 'r', token: 't' });
    const err = await client.pull({ max: 1, wait_ms: 0 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ControlUnreachableError);
    expect(isRetryableControlError(err)).toBe(true);
  });

  it('treats a call that gets no answer in time as unreachable', async () => {
    const hanging: typeof globalThis.fetch = (_input, init) =>
      new Promise((_resolve, reject) =>
        init?.signal?.addEventListener('abort', () => reject(init.signal?.reason)),
      );
    const client = createRunnerClient({
      baseUrl: 'http://c',
      runnerId: 'r',
      token: 't',
      fetch: hanging,
      timeoutMs: 20,
    });
    await expect(client.heartbeat({ receipts: [], in_flight: 0 })).rejects.toBeInstanceOf(
      ControlUnreachableError,
    );
  });

  it("rethrows the caller's abort reason rather than a control error", async () => {
    const hanging: typeof globalThis.fetch = (_input, init) =>
      new Promise((_resolve, reject) =>
        init?.signal?.addEventListener('abort', () => reject(init.signal?.reason)),
      );
    const client = createRunnerClient({ baseUrl: 'http://c', runnerId: 'r', token: 't', fetch: hanging });
    const controller = new AbortController();
    const pending = client.pull({ max: 1, wait_ms: 10_000 }, { signal: controller.signal });
    const reason = new Error('draining');
    controller.abort(reason);
    await expect(pending).rejects.toBe(reason);
  });

  it('rejects a 2xx answer that does not match the protocol', async () => {
    const { fetch } = fakeFetch(() => json({ items: [] }));
    const client = createRunnerClient({ baseUrl: 'http://c', runnerId: 'r', token: 't', fetch });
    await expect(client.pull({ max: 1, wait_ms: 0 })).rejects.toBeInstanceOf(ControlProtocolError);
  });
});
