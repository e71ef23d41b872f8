/**
 * Every route in /openapi.json, with hostile path parameters, query values, bodies and headers,
 * with and without an admin key: nothing gets a 5xx. New routes are covered by default. The cases
 * are drawn from a seeded generator, so a failure replays exactly (the seed and the case are in
 * the message).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type InjectedControl, startInjectedControl } from '../support/injected-control.ts';

/** mulberry32: small, seeded, good enough to pick cases. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const SEED = 18;
const CASES_PER_ROUTE = 10;

const PARAMS = [
  '%00',
  'a%00b',
  '%ED%A0%80', // a lone surrogate, as UTF-8 would spell it (not valid UTF-8)
  '%F0%9F',
  '%FF',
  'constructor',
  '__proto__',
  'toString',
  '..%2F..%2Fetc',
  '1e20',
  '-1',
  'NaN',
  'x'.repeat(3000),
  '%25',
  "'%3B--",
];
const deep = `${'['.repeat(5000)}${']'.repeat(5000)}`;
const BODIES: (string | undefined)[] = [
  undefined,
  '',
  '{',
  'null',
  '[]',
  '"text"',
  '1e400',
  `{"a":${deep}}`,
  '{"input":"\\ud83d"}',
  '{"input":"\\udc00x\\ud800"}',
  '{"input":"a\\u0000b"}',
  '{"__proto__":{"polluted":1},"constructor":{"prototype":{"x":1}}}',
  '{"toString":1,"valueOf":2,"hasOwnProperty":3}',
  '{"max":1e20,"wait_ms":-1,"after":1e20,"limit":1e20}',
  `{"s":"${'x'.repeat(100_000)}"}`,
];
const HEADERS: Record<string, string>[] = [
  {},
  { authorization: `Key ${'k'.repeat(10_000)}` },
  { authorization: 'Bearer \u00ff\u00fe' },
  { authorization: 'Key %00' },
  { 'x-fal-request-timeout': '1e20' },
  { 'x-fal-request-timeout': '-5' },
  { 'x-fal-queue-priority': 'constructor' },
  { 'x-fal-runner-hint': '\u00ff'.repeat(2000) },
  { 'x-fal-target-url': 'http://[::ffff:127.0.0.1]:1/queue/a/b' },
  { 'x-fal-target-url': '%00' },
  { 'content-type': 'application/json; charset=utf-16' },
  { 'content-type': 'text/plain' },
  { host: '%00' },
];
const QUERIES = [
  '',
  '?after=1e20',
  '?logs=%00',
  '?limit=-1&wait_ms=1e20',
  '?fal_webhook=http://[::ffff:7f00:1]/',
  '?fal_max_queue_length=1e400',
  '?__proto__[x]=1',
];

describe('route fuzz', () => {
  let c: InjectedControl;
  let routes: { method: string; path: string }[] = [];

  beforeAll(async () => {
    c = await startInjectedControl();
    const doc = (await c.service.app.inject({ method: 'GET', url: '/openapi.json' })).json() as {
      paths: Record<string, Record<string, unknown>>;
    };
    routes = Object.entries(doc.paths).flatMap(([p, ops]) =>
      Object.keys(ops)
        .filter((m) => ['get', 'post', 'put', 'patch', 'delete'].includes(m))
        .map((m) => ({ method: m.toUpperCase(), path: p })),
    );
  });
  afterAll(async () => {
    await c?.close();
  });

  it('no input gets a 5xx on any route', async () => {
    expect(routes.length).toBeGreaterThan(20);
    const pick = rng(SEED);
    const one = <T>(xs: T[]): T => xs[Math.floor(pick() * xs.length)]!;
    const failures: string[] = [];
    for (const r of routes) {
      for (let i = 0; i < CASES_PER_ROUTE; i++) {
        const url = r.path.replace(/\{[^}]+\}/g, () => one(PARAMS)) + one(QUERIES);
        const body = one(BODIES);
        const headers: Record<string, string> = { ...one(HEADERS) };
        if (pick() < 0.5 && !headers.authorization) headers.authorization = `Key ${c.adminKey}`;
        if (body !== undefined && !headers['content-type']) headers['content-type'] = 'application/json';
        // The SSE stream and long polls must not hold the walk: hostile ids never name a request.
        const res = await c.service.app.inject({
          method: r.method as 'GET',
          url,
          headers,
          ...(body !== undefined && r.method !== 'GET' ? { payload: body } : {}),
        });
        if (res.statusCode >= 500) {
          failures.push(
            `${res.statusCode} ${r.method} ${url.slice(0, 200)} body=${(body ?? '').slice(0, 80)} ` +
              `headers=${JSON.stringify(headers).slice(0, 200)} → ${res.body.slice(0, 200)}`,
          );
        }
      }
    }
    expect(failures, `seed ${SEED}`).toEqual([]);
  });
});
