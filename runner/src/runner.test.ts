import { afterEach, describe, expect, it } from 'vitest';
import { createRunnerClient } from '../../contract/src/runner-client.ts';
import type { ResultBody } from '../../contract/src/runner-protocol.ts';
import { loadConfig } from './config.ts';
import { controlJobSource } from './control-job-source.ts';
import { DRAINED_ERROR, EXIT, Runner, type RunnerTiming } from './runner.ts';
import { silentLog } from './runner-log.ts';
import { FAKE_APP_COMMAND } from './testing/fake-app.ts';
import { type FakeControl, job, startFakeControl } from './testing/fake-control.ts';

const FAST: Partial<RunnerTiming> = {
  idleHeartbeatMs: 200,
  logFlushMs: 20,
  appStopGraceMs: 1_000,
  resultBackoffMs: 10,
  resultBackoffMaxMs: 50,
  controlBackoffMs: 10,
  controlBackoffMaxMs: 50,
  healthIntervalMs: 10,
};

interface Harness {
  control: FakeControl;
  runner: Runner;
  exit: Promise<number>;
  states: () => string[];
}

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  await Promise.all(cleanups.splice(0).map((cleanup) => cleanup()));
});

async function startRunner(
  options: {
    env?: Record<string, string>;
    fetch?: typeof globalThis.fetch;
    timing?: Partial<RunnerTiming>;
  } = {},
): Promise<Harness> {
  const control = await startFakeControl();
  const config = await loadConfig({
    PATH: process.env['PATH'],
    GANTRY_CONTROL_URL: control.url,
    GANTRY_RUNNER_ID: 'runner-1',
    GANTRY_RUNNER_TOKEN: control.token,
    GANTRY_APP_COMMAND: JSON.stringify(FAKE_APP_COMMAND),
    ...options.env,
  });
  const client = createRunnerClient({
    baseUrl: control.url,
    runnerId: 'runner-1',
    token: control.token,
    ...(options.fetch ? { fetch: options.fetch } : {}),
  });
  const runner = new Runner({
    config,
    control: client,
    jobs: controlJobSource(client, 10_000),
    log: silentLog,
    timing: { ...FAST, ...options.timing },
  });
  const exit = runner.run();
  cleanups.push(async () => {
    runner.drain('test over');
    await exit;
    await control.close();
  });
  return { control, runner, exit, states: () => control.states.map((s) => s.state) };
}

/** The app's answer as the runner reported it: bytes, decoded as JSON when it was JSON. */
function bodyOf(r: ResultBody | undefined): unknown {
  const text = Buffer.from(r?.body_base64 ?? '', 'base64').toString('utf8');
  return r?.content_type?.includes('json') ? JSON.parse(text) : text;
}

const idle = (h: Harness) => h.control.waitFor(() => h.states().at(-1) === 'IDLE', 'state IDLE');

describe('runner', () => {
  it('reports SETUP, IDLE, RUNNING, IDLE and forwards path, body and request id to the app', async () => {
    const h = await startRunner();
    await idle(h);
    h.control.enqueue(job({ request_id: 'req-1', path: 'echo', input: { name: 'Ada', delay_ms: 100 } }));
    const [result] = await h.control.waitFor(
      () => h.control.results.length === 1 && h.control.results,
      'a result',
    );
    expect(result).toMatchObject({
      request_id: 'req-1',
      outcome: 'response',
      status_code: 200,
      content_type: 'application/json',
    });
    expect(bodyOf(result)).toMatchObject({
      path: '/echo',
      input: { name: 'Ada', delay_ms: 100 },
      request_id: 'req-1',
    });
    await idle(h);
    expect(h.states()).toEqual(['SETUP', 'IDLE', 'RUNNING', 'IDLE']);

    h.runner.drain('test');
    expect(await h.exit).toBe(EXIT.drained);
    expect(h.states().slice(-2)).toEqual(['DRAINING', 'TERMINATED']);
  });

  it('passes a non-JSON answer on as text with its status and content type', async () => {
    const h = await startRunner();
    h.control.enqueue(job({ request_id: 'req-t', path: '/text' }));
    const [result] = await h.control.waitFor(
      () => h.control.results.length === 1 && h.control.results,
      'a result',
    );
    expect(result).toMatchObject({ outcome: 'response', status_code: 201 });
    expect(bodyOf(result)).toBe('plain words');
    expect(result?.content_type).toMatch(/^text\/plain/);
  });

  it('forwards input bytes as sent and reports binary answers byte for byte', async () => {
    const h = await startRunner();
    // Key order and spacing that a JSON round trip would change.
    const sent = '{"z": 1,   "a": [2, 1], "m": "\u00e9"}';
    h.control.enqueue(
      job({
        request_id: 'req-raw',
        path: 'raw',
        input_base64: Buffer.from(sent).toString('base64'),
        content_type: 'application/json; charset=utf-8',
      }),
      job({ request_id: 'req-bin', path: 'binary' }),
    );
    await h.control.waitFor(() => h.control.results.length === 2, 'two results');
    const raw = h.control.results.find((r) => r.request_id === 'req-raw');
    expect(Buffer.from(raw?.body_base64 ?? '', 'base64').toString('utf8')).toBe(sent);
    expect(raw?.content_type).toBe('application/json; charset=utf-8');
    const bin = h.control.results.find((r) => r.request_id === 'req-bin');
    const bytes = Buffer.from(bin?.body_base64 ?? '', 'base64');
    expect(bytes.length).toBe(512);
    expect([...bytes].every((b, i) => b === i % 256)).toBe(true);
    expect(bin?.content_type).toBe('image/png');
  });

  it('passes the files URL of a job to the app', async () => {
    const h = await startRunner();
    const files_url = 'http://control.test/files/o/env-1?exp=1&sig=x';
    h.control.enqueue(job({ request_id: 'req-f', path: 'files-url', files_url }));
    const [result] = await h.control.waitFor(
      () => h.control.results.length === 1 && h.control.results,
      'a result',
    );
    expect(bodyOf(result)).toEqual({ files_url });
  });

  it('relays server-sent events to control one by one, and reports the last as the result', async () => {
    const h = await startRunner();
    h.control.enqueue(job({ request_id: 'req-sse', path: 'sse', input: { count: 3, gap_ms: 150 } }));
    // The first event reaches control while the app is still streaming.
    await h.control.waitFor(
      () => (h.control.streams.get('req-sse')?.chunks.length ?? 0) >= 1,
      'a first event',
    );
    expect(h.control.results).toEqual([]);
    const [result] = await h.control.waitFor(
      () => h.control.results.length === 1 && h.control.results,
      'a result',
    );
    const stream = h.control.streams.get('req-sse')!;
    expect(stream.ended).toBe(true);
    expect(stream.chunks.join('')).toBe('data: {"n":1}\n\ndata: {"n":2}\n\ndata: {"n":3}\n\n');
    expect(result).toMatchObject({ outcome: 'response', status_code: 200, streamed: true });
    expect(bodyOf(result)).toEqual({ n: 3 });
  });

  it('ends a stream the app breaks off with an error event, and reports it failed (not retried)', async () => {
    const h = await startRunner();
    h.control.enqueue(job({ request_id: 'req-brk', path: 'sse', input: { count: 5, break_after: 2 } }));
    const [result] = await h.control.waitFor(
      () => h.control.results.length === 1 && h.control.results,
      'a result',
    );
    const text = h.control.streams.get('req-brk')!.chunks.join('');
    expect(text.startsWith('data: {"n":1}\n\ndata: {"n":2}\n\nevent: error\ndata: ')).toBe(true);
    expect(result).toMatchObject({ outcome: 'response', status_code: 500, streamed: true });
    expect(String((bodyOf(result) as { detail: string }).detail)).toMatch(/broke off/);
  });

  it('passes a cancel to the app as soon as control answers a stream with cancel (the caller hung up)', async () => {
    const h = await startRunner();
    await idle(h);
    h.control.hangUpStream('req-hup');
    // Far longer than the test may take: only the cancel ends this stream.
    h.control.enqueue(
      job({ request_id: 'req-hup', path: 'sse', input: { count: 1_000_000, gap_ms: 20 }, timeout_s: 3600 }),
    );
    const [result] = await h.control.waitFor(
      () => h.control.results.length === 1 && h.control.results,
      'a result',
    );
    // No heartbeat carries a cancel here (control.cancel is never called): the stream's answer did.
    expect(result).toMatchObject({
      request_id: 'req-hup',
      outcome: 'response',
      status_code: 500,
      streamed: true,
    });
  });

  it('never runs more jobs at once than max_multiplexing', async () => {
    const h = await startRunner({ env: { GANTRY_MAX_MULTIPLEXING: '2' } });
    await idle(h);
    const jobs = [1, 2, 3, 4, 5].map((n) => job({ request_id: `req-${n}`, input: { delay_ms: 150 } }));
    h.control.enqueue(...jobs);
    await h.control.waitFor(() => h.control.results.length === 5, 'five results');

    const concurrency = h.control.results.map(
      (r) => (bodyOf(r) as { max_concurrent: number }).max_concurrent,
    );
    expect(Math.max(...concurrency)).toBe(2);
    expect(h.control.pulls.every((p) => p.max >= 1 && p.max <= 2)).toBe(true);
    expect(h.control.pulls.some((p) => p.max === 1)).toBe(true);
  });

  it('reports a job the app does not answer in time as timeout', async () => {
    const h = await startRunner();
    h.control.enqueue(job({ request_id: 'req-slow', timeout_s: 0.2, input: { delay_ms: 5_000 } }));
    const [result] = await h.control.waitFor(
      () => h.control.results.length === 1 && h.control.results,
      'a result',
    );
    expect(result).toMatchObject({ outcome: 'timeout', error: 'the app did not answer within 0.2 s' });
    await idle(h);
  });

  it('reports crash when the app dies during a request, then terminates with exit code 4', async () => {
    const h = await startRunner();
    h.control.enqueue(job({ request_id: 'req-crash', path: 'crash' }));
    expect(await h.exit).toBe(EXIT.appCrashed);
    expect(h.control.results).toMatchObject([
      { request_id: 'req-crash', outcome: 'crash', error: 'the app exited with code 7 during the request' },
    ]);
    const last = h.control.states.at(-1);
    expect(last?.state).toBe('TERMINATED');
    expect(last?.detail).toMatch(/exited with code 7 while serving/);
    expect(last?.detail).toContain('about to crash');
  });

  it('attributes app output by prefix, else to the only request in flight', async () => {
    const h = await startRunner({ env: { GANTRY_MAX_MULTIPLEXING: '2' } });
    await idle(h);
    h.control.enqueue(
      job({ request_id: 'solo', path: 'log', input: { out: ['hello out'], err: ['hello err'] } }),
    );
    await h.control.waitFor(() => h.control.results.length === 1, 'the first result');

    // Answers only once cancelled: certainly still in flight while 'pair' runs, however slow the machine.
    h.control.enqueue(job({ request_id: 'busy', path: 'slow' }));
    await h.control.waitFor(() => h.states().at(-1) === 'RUNNING', 'state RUNNING');
    h.control.enqueue(
      job({
        request_id: 'pair',
        path: 'log',
        input: { out: ['[gantry:req=pair] tagged line', 'ambiguous line'] },
      }),
    );
    await h.control.waitFor(() => h.control.results.some((r) => r.request_id === 'pair'), "pair's result");
    await h.control.waitFor(() => h.control.logs.length >= 4, 'four log lines');
    expect(h.control.results.some((r) => r.request_id === 'busy')).toBe(false);

    const line = (message: string) => h.control.logs.find((l) => l.message === message);
    expect(line('hello out')).toMatchObject({ request_id: 'solo', level: 'STDOUT', source: 'user' });
    expect(line('hello err')).toMatchObject({ request_id: 'solo', level: 'STDERR', source: 'user' });
    expect(line('tagged line')).toMatchObject({ request_id: 'pair', level: 'STDOUT' });
    expect(line('ambiguous line')).toBeDefined();
    expect(line('ambiguous line')).not.toHaveProperty('request_id');
    h.control.cancel('busy');
    await h.control.waitFor(() => h.control.results.some((r) => r.request_id === 'busy'), "busy's result");
  });

  it('sends with each result the lines the app wrote before answering, every time', async () => {
    // Lines are otherwise shipped on their own every 20 ms here; only a result may carry them now.
    const h = await startRunner({ timing: { logFlushMs: 60_000 } });
    await idle(h);
    const ids = Array.from({ length: 20 }, (_, i) => `seq-${i}`);
    for (const id of ids) {
      h.control.enqueue(job({ request_id: id, path: 'log', input: { out: [`working on ${id}`] } }));
      await h.control.waitFor(() => h.control.results.some((r) => r.request_id === id), `${id}'s result`);
    }
    for (const id of ids) {
      const result = h.control.results.find((r) => r.request_id === id);
      expect(result?.logs?.map((l) => l.message)).toContain(`working on ${id}`);
    }
  });

  it('drains and exits by itself when control stays unreachable past controlLostMs', async () => {
    let cut = false;
    const h = await startRunner({
      timing: { controlLostMs: 1_000 },
      fetch: (input, init) => (cut ? Promise.reject(new TypeError('fetch failed')) : fetch(input, init)),
    });
    await idle(h);
    cut = true;
    expect(await h.exit).toBe(EXIT.drained);
    // Its last reports could not reach control either; what the test sees is the exit itself.
  });

  it('keeps running through a control outage shorter than controlLostMs', async () => {
    let cut = false;
    const h = await startRunner({
      timing: { controlLostMs: 60_000 },
      fetch: (input, init) => (cut ? Promise.reject(new TypeError('fetch failed')) : fetch(input, init)),
    });
    await idle(h);
    cut = true;
    const before = h.control.heartbeats.length;
    // Heartbeats fail for a while (about five of them), then control is back.
    await new Promise((r) => setTimeout(r, 1_000));
    cut = false;
    await h.control.waitFor(() => h.control.heartbeats.length > before, 'a heartbeat after the outage');
    // Still serving: a request after the outage is answered, and it never drained.
    h.control.enqueue(job({ request_id: 'req-after', path: 'echo', input: {} }));
    await h.control.waitFor(() => h.control.results.length === 1, 'a result after the outage');
    expect(h.states()).not.toContain('DRAINING');
  });

  it('heartbeats in-flight receipts and passes a cancel on to the app', async () => {
    const h = await startRunner();
    const slow = job({ request_id: 'req-c', path: 'slow', lease_s: 0.3 });
    h.control.enqueue(slow);
    await h.control.waitFor(
      () => h.control.heartbeats.filter((hb) => hb.receipts.includes(slow.receipt)).length >= 2,
      'two heartbeats naming the receipt',
    );
    expect(h.control.heartbeats.at(-1)).toMatchObject({ in_flight: 1 });

    h.control.cancel('req-c');
    const [result] = await h.control.waitFor(
      () => h.control.results.length === 1 && h.control.results,
      'a result',
    );
    expect(result).toMatchObject({ request_id: 'req-c', outcome: 'response', status_code: 499 });
  });

  it('forgets lost receipts: no more heartbeats for them and no result', async () => {
    const h = await startRunner();
    const lost = job({ request_id: 'req-lost', lease_s: 0.15, input: { delay_ms: 400 } });
    h.control.enqueue(lost);
    await h.control.waitFor(
      () => h.control.heartbeats.some((hb) => hb.receipts.includes(lost.receipt)),
      'heartbeat',
    );
    h.control.lose(lost.receipt);
    const before = h.control.heartbeats.length;
    await h.control.waitFor(() => h.control.heartbeats.length >= before + 2, 'two more heartbeats');
    expect(h.control.heartbeats.at(-1)?.receipts).not.toContain(lost.receipt);

    // A later job's result arriving shows the lost one's would have too.
    h.control.enqueue(job({ request_id: 'req-next' }));
    await h.control.waitFor(() => h.control.results.length === 1, 'a result');
    expect(h.control.results.map((r) => r.request_id)).toEqual(['req-next']);
  });

  it('retries a result while control answers 503, and pulls while control is unreachable', async () => {
    let refusals = 3;
    const flaky: typeof globalThis.fetch = (input, init) => {
      if (String(input).endsWith('/pull') && refusals-- > 0)
        return Promise.reject(new TypeError('fetch failed'));
      return fetch(input, init);
    };
    const h = await startRunner({ fetch: flaky });
    h.control.failResults(2);
    h.control.enqueue(job({ request_id: 'req-r' }));
    await h.control.waitFor(() => h.control.results.length === 1, 'a result');
    expect(h.control.results[0]).toMatchObject({ request_id: 'req-r', outcome: 'response' });
    expect(refusals).toBeLessThan(0);
  });

  it('drains when control asks in a pull answer', async () => {
    const h = await startRunner();
    await idle(h);
    h.control.askDrain();
    expect(await h.exit).toBe(EXIT.drained);
    expect(h.states()).toEqual(['SETUP', 'IDLE', 'DRAINING', 'TERMINATED']);
  });

  it('a drain does not hang up on a pull in flight: a job control handed out just then still runs', async () => {
    // Pull answers are held "in the network" until the test lets them through; a hang-up (abort)
    // loses them, as it would a real answer.
    let release: () => void = () => {};
    const gate = new Promise<void>((resolve) => {
      release = resolve;
    });
    let heldAnswers = 0;
    const slowPulls: typeof fetch = async (input, init) => {
      const res = await fetch(input, init);
      if (!String(input).endsWith('/pull')) return res;
      const body = await res.text();
      if (!body.includes('req-late')) return new Response(body, res);
      heldAnswers++;
      await new Promise<void>((resolve, reject) => {
        void gate.then(resolve);
        init?.signal?.addEventListener('abort', () => reject(init.signal?.reason));
      });
      return new Response(body, res);
    };
    const h = await startRunner({ fetch: slowPulls });
    await idle(h);
    // Control started this request on the runner a moment before the drain reached it.
    h.control.enqueue(job({ request_id: 'req-late', input: { name: 'late' } }));
    await h.control.waitFor(() => heldAnswers === 1, 'the answer on its way');
    h.runner.drain('SIGTERM');
    await h.control.waitFor(() => h.states().includes('DRAINING'), 'state DRAINING');
    release();
    expect(await h.exit).toBe(EXIT.drained);
    expect(h.control.results).toMatchObject([
      { request_id: 'req-late', outcome: 'response', status_code: 200 },
    ]);
  });

  it('gives unfinished requests back as crash when the drain grace runs out', async () => {
    const h = await startRunner({ env: { GANTRY_DRAIN_GRACE: '0.2' } });
    h.control.enqueue(job({ request_id: 'req-stuck', path: 'slow' }));
    await h.control.waitFor(() => h.states().at(-1) === 'RUNNING', 'state RUNNING');
    h.runner.drain('test');
    expect(await h.exit).toBe(EXIT.drained);
    expect(h.control.results).toMatchObject([
      { request_id: 'req-stuck', outcome: 'crash', error: DRAINED_ERROR },
    ]);
    expect(h.states().at(-1)).toBe('TERMINATED');
  });

  it('exits 3 with the reason and the last output when the app fails to start', async () => {
    const h = await startRunner({ env: { FAKE_SETUP_FAIL: '1' } });
    expect(await h.exit).toBe(EXIT.startupFailed);
    expect(h.states()).toEqual(['SETUP', 'TERMINATED']);
    const detail = h.control.states.at(-1)?.detail ?? '';
    expect(detail).toMatch(/^the app exited with code 1 before it became healthy/);
    expect(detail).toContain('CUDA error: out of memory');
  });

  it('exits 3 when the app is not healthy within startup_timeout', async () => {
    // Long enough for the app to answer a first health check (503, still in setup) on a busy machine.
    const h = await startRunner({ env: { FAKE_SETUP_MS: '60000', GANTRY_STARTUP_TIMEOUT: '8' } });
    expect(await h.exit).toBe(EXIT.startupFailed);
    expect(h.control.states.at(-1)?.detail).toMatch(
      /did not become healthy within 8 s \(last health check: 503 \{"status":"SETUP"\}\)/,
    );
  });

  it('a rollout candidate with a smoke request is ready only once the app answered it with the expected status', async () => {
    const smoke = { path: '/echo', input: { probe: true }, expect_status: 200 };
    const h = await startRunner({ env: { GANTRY_SMOKE_REQUEST: JSON.stringify(smoke) } });
    await idle(h);
    expect(h.states()).toEqual(['SETUP', 'IDLE']);
  });

  it('exits 3 with the answer when the app fails its smoke request, never reporting ready', async () => {
    const smoke = { path: '/missing', input: {}, expect_status: 200 };
    const h = await startRunner({ env: { GANTRY_SMOKE_REQUEST: JSON.stringify(smoke) } });
    expect(await h.exit).toBe(EXIT.startupFailed);
    expect(h.states()).toEqual(['SETUP', 'TERMINATED']);
    expect(h.control.states.at(-1)?.detail).toMatch(
      /^smoke request POST \/missing answered 404, expected 200: .*no endpoint \/missing/,
    );
  });
});
