/**
 * What an operator watches, against a real control running the hello app: the Prometheus scrape
 * parses and moves as requests flow, the environment's events come as JSON with a cursor and as
 * server-sent events that follow and resume, and the app's setup output is kept as log lines with
 * its runner's id.
 */
import { spawn } from 'node:child_process';
import path from 'node:path';
import parsePrometheusTextFormat from 'parse-prometheus-text-format';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually, REPO_ROOT, startTestControl, type TestControl } from '../support/control.ts';

let c: TestControl;
const ENV = '/v1/apps/test/hello/environments/production';
const APP = { application: 'test/hello', environment: 'production' };

interface Family {
  name: string;
  type: string;
}

interface Scrape {
  families: Map<string, Family>;
  /** Every sample line: name, labels, value. */
  samples: { name: string; labels: Record<string, string>; value: number }[];
}

const SAMPLE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/;
const LABEL = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g;

/**
 * Scrapes /metrics. The text must parse (parse-prometheus-text-format); samples are read from the
 * lines themselves, because that parser drops the labels of histogram series.
 */
async function scrape(): Promise<Scrape> {
  const res = await fetch(`${c.url}/metrics`);
  expect(res.status).toBe(200);
  expect(res.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
  const text = await res.text();
  const families = parsePrometheusTextFormat(text) as Family[];
  const samples = text
    .split('\n')
    .filter((l) => l !== '' && !l.startsWith('#'))
    .map((l) => {
      const m = SAMPLE.exec(l);
      expect(m, `a sample line: ${l}`).not.toBeNull();
      const labels = Object.fromEntries([...(m![2] ?? '').matchAll(LABEL)].map((x) => [x[1]!, x[2]!]));
      return { name: m![1]!, labels, value: Number(m![3]) };
    });
  return { families: new Map(families.map((f) => [f.name, f])), samples };
}

/** The value of the sample `name` (a histogram: its `_count`) whose labels include `labels`; 0 when absent. */
function sample(m: Scrape, name: string, labels: Record<string, string>): number {
  const wanted = m.families.get(name)?.type === 'HISTOGRAM' ? `${name}_count` : name;
  const hit = m.samples.find(
    (x) => x.name === wanted && Object.entries(labels).every(([k, v]) => x.labels[k] === v),
  );
  return hit?.value ?? 0;
}

async function run(name: string): Promise<void> {
  const res = await fetch(`${c.url}/run/test/hello`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ name }),
  });
  expect(res.status).toBe(200);
}

interface EventView {
  seq: number;
  type: string;
  message: string;
  runner_id: string | null;
  data: Record<string, unknown>;
}

async function events(after?: number): Promise<{ events: EventView[]; next: number }> {
  const res = await c.admin(`${ENV}/events${after === undefined ? '' : `?after=${after}`}`);
  expect(res.status).toBe(200);
  return (await res.json()) as { events: EventView[]; next: number };
}

/** Reads server-sent events from a stream until `until` holds for one, or the deadline passes. */
async function readSse(
  res: Response,
  until: (e: EventView, id: number) => boolean,
  ms = 20_000,
): Promise<{ event: EventView; id: number }> {
  const reader = res.body!.getReader();
  const decoder = new TextDecoder();
  let buffer = '';
  const deadline = Date.now() + ms;
  try {
    while (Date.now() < deadline) {
      const { value, done } = await reader.read();
      if (done) break;
      buffer += decoder.decode(value, { stream: true });
      let cut = buffer.indexOf('\n\n');
      while (cut >= 0) {
        const block = buffer.slice(0, cut);
        buffer = buffer.slice(cut + 2);
        const id = /^id: (\d+)$/m.exec(block)?.[1];
        const data = /^data: (.*)$/m.exec(block)?.[1];
        if (id && data) {
          const event = JSON.parse(data) as EventView;
          if (until(event, Number(id))) return { event, id: Number(id) };
        }
        cut = buffer.indexOf('\n\n');
      }
    }
  } finally {
    await reader.cancel();
  }
  throw new Error('the event stream ended without the event');
}

beforeAll(async () => {
  c = await startTestControl();
  await c.deploy({ name: 'hello', scaling: { keep_alive: 120 } });
  // Opening the embedded database takes minutes, not seconds, when both cores are busy.
}, 180_000);
afterAll(async () => {
  await c?.close();
});

describe('GET /metrics', () => {
  it('parses as Prometheus text and moves as requests flow', async () => {
    const before = await scrape();
    expect(before.families.get('fal_app_runners')?.type).toBe('GAUGE');
    expect(before.families.get('fal_app_request_latency')?.type).toBe('HISTOGRAM');
    expect(sample(before, 'fal_app_runners', { ...APP, state: 'idle' })).toBe(0);

    await run('Ada');
    // The ready runner's cold start and the request's outcome are recorded just after the answer.
    const after = await eventually(async () => {
      const m = await scrape();
      // …and the runner reports itself idle again after the request, a moment later still.
      const settled =
        sample(m, 'gantry_runner_cold_start_seconds', APP) === 1 &&
        sample(m, 'fal_app_runners', { ...APP, state: 'idle' }) === 1 &&
        sample(m, 'fal_app_request_latency', APP) === 1;
      return settled ? m : undefined;
    });
    expect(
      sample(after, 'fal_app_runners', { ...APP, state: 'idle', revision: '1', machine_type: 'CPU' }),
    ).toBe(1);
    expect(sample(after, 'fal_app_request_latency', APP)).toBe(1);
    expect(sample(after, 'gantry_request_queue_wait_seconds', APP)).toBe(1);
    expect(sample(after, 'gantry_request_attempts_total', APP)).toBe(1);
    expect(sample(after, 'fal_app_requests_received', APP)).toBe(1);
    expect(sample(after, 'fal_app_requests_completed', { ...APP, status: '200' })).toBe(1);
    expect(sample(after, 'fal_app_queue_size', APP)).toBe(0);
    expect(sample(after, 'gantry_runner_seconds_total', { ...APP, machine_type: 'CPU' })).toBeGreaterThan(0);
    expect(
      sample(after, 'gantry_http_request_duration_seconds', { route: '/run/:owner/:app', method: 'POST' }),
    ).toBe(1);
    expect(
      sample(after, 'gantry_store_query_duration_seconds', { statement: 'UPDATE runners' }),
    ).toBeGreaterThan(0);

    await run('Grace');
    const again = await eventually(async () => {
      const m = await scrape();
      return sample(m, 'fal_app_request_latency', APP) === 2 ? m : undefined;
    });
    expect(sample(again, 'gantry_request_attempts_total', APP)).toBe(2);
    // Warm: still one runner, no second cold start.
    expect(sample(again, 'gantry_runner_cold_start_seconds', APP)).toBe(1);
  });
});

describe('the event stream', () => {
  it('lists runner state changes with a cursor, and what changes after it', async () => {
    const first = await eventually(async () => {
      const e = await events();
      return e.events.some((x) => x.message.includes('ready after')) ? e : undefined;
    });
    const states = first.events.filter((e) => e.type === 'runner.state').map((e) => e.data.state);
    expect(states.slice(0, 3)).toEqual(['PENDING', 'SETUP', 'IDLE']);
    expect(first.events.find((e) => e.data.state === 'PENDING')?.message).toMatch(/PENDING: scale from zero/);
    // A ready runner serving requests (IDLE ⇄ RUNNING) is traffic, not events.
    expect(states).not.toContain('RUNNING');
    expect(first.events.map((e) => e.type)).toEqual(expect.arrayContaining(['deploy', 'rollout.started']));
    expect((await events(first.next)).events).toEqual([]);

    const patched = await c.admin(`${ENV}/scaling`, { method: 'PATCH', body: { max_concurrency: 3 } });
    expect(patched.status).toBe(200);
    const later = await eventually(async () => {
      const e = await events(first.next);
      return e.events.length > 0 ? e : undefined;
    });
    expect(later.events[0]).toMatchObject({
      type: 'scaling.changed',
      data: { changes: { max_concurrency: [2, 3] } },
    });
  });

  it('follows as server-sent events, and resumes from Last-Event-ID', async () => {
    const auth = { authorization: `Key ${c.adminKey}` };
    const stream = await fetch(`${c.url}${ENV}/events?follow=true`, { headers: auth });
    expect(stream.status).toBe(200);
    expect(stream.headers.get('content-type')).toBe('text/event-stream');
    const patched = await c.admin(`${ENV}/scaling`, { method: 'PATCH', body: { max_concurrency: 4 } });
    expect(patched.status).toBe(200);
    const got = await readSse(stream, (e) => e.type === 'scaling.changed');
    expect(got.event.data).toEqual({ changes: { max_concurrency: [3, 4] } });
    expect(got.event.seq).toBe(got.id);

    // A reconnecting EventSource sends the last id it saw and gets what came after it.
    const resumed = await fetch(`${c.url}${ENV}/events?follow=true`, {
      headers: { ...auth, 'last-event-id': String(got.id - 1) },
    });
    const again = await readSse(resumed, () => true);
    expect(again.id).toBe(got.id);
  });
});

describe('gantry events', () => {
  it('prints the recent events, then follows new ones', async () => {
    const cli = spawn(
      process.execPath,
      [path.join(REPO_ROOT, 'cli/bin/gantry.mjs'), 'events', 'test/hello', '--follow', '--tail', '5'],
      {
        env: { PATH: process.env.PATH ?? '', GANTRY_URL: c.url, GANTRY_KEY: c.adminKey, HOME: REPO_ROOT },
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    let out = '';
    cli.stdout.on('data', (b: Buffer) => {
      out += b.toString();
    });
    const exited = new Promise<number | null>((r) => cli.on('close', r));
    try {
      // The last five events come first; one of them is the scaling change made above.
      await eventually(async () => (out.includes('scaling.changed') ? true : undefined), 30_000, 'the tail');
      const before = out.split('\n').filter(Boolean).length;
      expect(before).toBe(5);
      const patched = await c.admin(`${ENV}/scaling`, { method: 'PATCH', body: { keep_alive: 90 } });
      expect(patched.status).toBe(200);
      await eventually(
        async () => (/keep_alive 120 → 90/.test(out) ? true : undefined),
        30_000,
        'the new event',
      );
    } finally {
      cli.kill('SIGTERM');
    }
    expect(await exited).not.toBe(1);
  });
});

describe("the app's own output", () => {
  it('keeps setup output, outside any request, as log lines with the runner id', async () => {
    const res = await c.admin(`${ENV}/logs`);
    const { logs } = (await res.json()) as {
      logs: { request_id: string | null; runner_id: string | null; message: string }[];
    };
    const setup = logs.find((l) => l.message.startsWith('loading model'));
    expect(setup).toMatchObject({ request_id: null, runner_id: expect.stringMatching(/^[0-9a-f-]{36}$/) });
    expect(logs.find((l) => l.message.startsWith('greeting Ada'))).toMatchObject({ runner_id: null });
  });
});
