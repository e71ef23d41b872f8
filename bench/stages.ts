/**
 * Where a warm request's time goes: stamps taken around control's request path (in this process:
 * the bench composes control itself) and the runner's own times from its result, turned into a
 * per-stage table. Nothing in control knows about it: the bench wraps the objects control exposes
 * to whoever composes it, for the length of one measurement, and puts them back.
 *
 * Times are wall-clock milliseconds with sub-millisecond precision here (timeOrigin + now); the
 * runner's started_at/finished_at are whole milliseconds, so the three stages that cross into the
 * runner are right on average, not per request.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Started } from '../control/index.ts';

/** The stages, in the order a request crosses them. */
export const STAGES = [
  ['http_in', 'caller → control (HTTP in, body parsed, routed)'],
  ['lookup', 'app lookup + auth (route → submit)'],
  ['submit', 'submit: request row + queue message'],
  ['pull_wake', 'pull wake-up (committed → claimed)'],
  ['start', 'start attempt (claimed → job handed)'],
  ['to_runner', 'pull answer → runner has the job'],
  ['forward_app', 'runner → app → runner (forward + app)'],
  ['result', 'runner → control (result report)'],
  ['complete', 'completion (result logs + complete)'],
  ['wake', 'caller wake-up (completed → waiter)'],
  ['reply', 'reply written (waiter → response sent)'],
  ['http_out', 'control → caller (response read)'],
] as const;
export type Stage = (typeof STAGES)[number][0];

type Mark =
  | 'sent'
  | 'arrived'
  | 'submitCalled'
  | 'enqueued'
  | 'claimed'
  | 'handed'
  | 'runnerStarted'
  | 'runnerFinished'
  | 'resultArrived'
  | 'completed'
  | 'woken'
  | 'replied'
  | 'received';

const now = () => performance.timeOrigin + performance.now();

/** Per-stage p50 / p99 / min in ms over the traced requests, with their sum. */
export interface StageBreakdown {
  requests: number;
  stages: Record<Stage, { p50_ms: number; p99_ms: number; min_ms: number }>;
  /** Statements per request, by label (`UPDATE requests`), from control's own query metrics. */
  statements_per_request: Record<string, number>;
  /** Time spent in those statements per request (mean, ms), as control's metrics time them. */
  statement_ms_per_request: number;
}

interface Anything {
  [k: string]: unknown;
}

/**
 * Starts tracing. The caller stamps `sent`/`received` per request id with `mark`; `finish`
 * restores control's objects and returns the breakdown of the requests it was given.
 */
export async function traceStages(service: Started) {
  const marks = new Map<string, Partial<Record<Mark, number>>>();
  const mark = (id: string, m: Mark, at = now()) => {
    const e = marks.get(id) ?? {};
    e[m] ??= at;
    marks.set(id, e);
  };
  const restore: (() => void)[] = [];
  /** Replaces obj[key] (a method) with wrap(original) until finish(). */
  const wrap = <T extends object>(
    obj: T,
    key: string,
    make: (orig: (...a: unknown[]) => unknown) => unknown,
  ) => {
    const o = obj as unknown as Anything;
    const orig = o[key] as (...a: unknown[]) => unknown;
    o[key] = make(orig.bind(obj));
    restore.push(() => {
      o[key] = orig;
    });
  };

  // HTTP in and out, on control's own server: arrival of a sync call, and when its answer is sent.
  // The route's submit is tied to the arrival before it: right for requests sent one at a time,
  // which is what the breakdown is for.
  let lastArrival: { at: number; id?: string } | undefined;
  const onRequest = (req: IncomingMessage, res: ServerResponse) => {
    if (!req.url?.startsWith('/run/')) return;
    const arrival: { at: number; id?: string } = { at: now() };
    lastArrival = arrival;
    res.once('finish', () => {
      if (arrival.id === undefined) return;
      mark(arrival.id, 'arrived', arrival.at);
      mark(arrival.id, 'replied');
    });
  };
  service.app.server.prependListener('request', onRequest);
  restore.push(() => service.app.server.off('request', onRequest));

  const requests = service.requests as unknown as Anything;
  wrap(requests, 'submit', (orig) => async (...a: unknown[]) => {
    const called = now();
    const arrival = lastArrival;
    const rec = (await orig(...a)) as { id: string };
    if (arrival && arrival.id === undefined) arrival.id = rec.id;
    mark(rec.id, 'submitCalled', called);
    mark(rec.id, 'enqueued');
    return rec;
  });
  // The queue is the request service's own (not exposed otherwise): what a pull's receive claimed.
  wrap(requests['queue'] as object, 'receive', (orig) => async (...a: unknown[]) => {
    const got = (await orig(...a)) as { message: { request_id: string } }[];
    const at = now();
    for (const d of got) mark(d.message.request_id, 'claimed', at);
    return got;
  });
  wrap(requests, 'pull', (orig) => async (...a: unknown[]) => {
    const out = (await orig(...a)) as { jobs: { request_id: string }[] };
    const at = now();
    for (const j of out.jobs) mark(j.request_id, 'handed', at);
    return out;
  });
  wrap(requests, 'recordResult', (orig) => async (...a: unknown[]) => {
    const r = a[1] as { request_id: string; started_at: string; finished_at: string };
    mark(r.request_id, 'resultArrived');
    mark(r.request_id, 'runnerStarted', Date.parse(r.started_at));
    mark(r.request_id, 'runnerFinished', Date.parse(r.finished_at));
    return orig(...a);
  });
  wrap(service.store.requests, 'complete', (orig) => async (...a: unknown[]) => {
    const done = await orig(...a);
    mark(a[0] as string, 'completed');
    return done;
  });
  wrap(requests, 'waitForCompletion', (orig) => async (...a: unknown[]) => {
    const rec = await orig(...a);
    mark(a[0] as string, 'woken');
    return rec;
  });

  const statementsBefore = await statementCounts(service);

  return {
    mark: (id: string, m: 'sent' | 'received', at: number) => mark(id, m, at),
    /** Stops tracing; the breakdown over `ids` (requests that were traced from end to end). */
    async finish(ids: string[]): Promise<StageBreakdown> {
      for (const r of restore.reverse()) r();
      const after = await statementCounts(service);
      const perStage = new Map<Stage, number[]>(STAGES.map(([s]) => [s, []]));
      const spans: [Stage, Mark, Mark][] = [
        ['http_in', 'sent', 'arrived'],
        ['lookup', 'arrived', 'submitCalled'],
        ['submit', 'submitCalled', 'enqueued'],
        ['pull_wake', 'enqueued', 'claimed'],
        ['start', 'claimed', 'handed'],
        ['to_runner', 'handed', 'runnerStarted'],
        ['forward_app', 'runnerStarted', 'runnerFinished'],
        ['result', 'runnerFinished', 'resultArrived'],
        ['complete', 'resultArrived', 'completed'],
        ['wake', 'completed', 'woken'],
        ['reply', 'woken', 'replied'],
        ['http_out', 'replied', 'received'],
      ];
      let traced = 0;
      for (const id of ids) {
        const m = marks.get(id);
        if (!m || spans.some(([, a, b]) => m[a] === undefined || m[b] === undefined)) continue;
        traced++;
        for (const [stage, a, b] of spans) perStage.get(stage)!.push(m[b]! - m[a]!);
      }
      const stages = {} as StageBreakdown['stages'];
      for (const [stage, xs] of perStage) {
        const s = [...xs].sort((x, y) => x - y);
        const at = (q: number) => s[Math.min(s.length - 1, Math.floor(q * s.length))] ?? Number.NaN;
        stages[stage] = { p50_ms: r2(at(0.5)), p99_ms: r2(at(0.99)), min_ms: r2(s[0] ?? Number.NaN) };
      }
      const statements: Record<string, number> = {};
      let statementMs = 0;
      for (const [key, n] of after) {
        const per = (n - (statementsBefore.get(key) ?? 0)) / Math.max(1, ids.length);
        if (key.endsWith('\tms')) statementMs += per;
        else if (per >= 0.01) statements[key] = r2(per);
      }
      return {
        requests: traced,
        stages,
        statements_per_request: statements,
        statement_ms_per_request: r2(statementMs),
      };
    },
  };
}

/** Statements run so far, by label, read from control's own /metrics histogram. */
async function statementCounts(service: Started): Promise<Map<string, number>> {
  const text = await service.metrics.text();
  const out = new Map<string, number>();
  const re = /^gantry_store_query_duration_seconds_(count|sum)\{([^}]*)\} (\S+)$/gm;
  for (const m of text.matchAll(re)) {
    const label = /statement="([^"]*)"/.exec(m[2]!)?.[1] ?? 'other';
    // Seconds of statements are kept beside their count, under a key of their own.
    const key = m[1] === 'count' ? label : `${label}\tms`;
    out.set(key, (out.get(key) ?? 0) + Number(m[3]) * (m[1] === 'count' ? 1 : 1000));
  }
  return out;
}

const r2 = (n: number) => Math.round(n * 100) / 100;

/** The breakdown as the bench prints it. */
export function printStages(b: StageBreakdown, direct: { p50_ms: number }): void {
  console.log(`\nwhere a warm request's time goes (sequential, ${b.requests} requests traced)`);
  console.log(`  ${'stage'.padEnd(46)} ${'p50'.padStart(8)} ${'p99'.padStart(8)} ${'min'.padStart(8)}`);
  let sum = 0;
  for (const [stage, label] of STAGES) {
    const s = b.stages[stage];
    sum += s.p50_ms;
    console.log(
      `  ${label.padEnd(46)} ${s.p50_ms.toFixed(2).padStart(8)} ${s.p99_ms.toFixed(2).padStart(8)} ${s.min_ms.toFixed(2).padStart(8)} ms`,
    );
  }
  console.log(`  ${'sum of the p50s'.padEnd(46)} ${sum.toFixed(2).padStart(8)} ms`);
  console.log(`  (the app alone, called directly: p50 ${direct.p50_ms.toFixed(2)} ms)`);
  const stmts = Object.entries(b.statements_per_request).sort((x, y) => y[1] - x[1]);
  const total = stmts.reduce((a, [, n]) => a + n, 0);
  console.log(
    `  SQL statements per request: ${total.toFixed(1)}, ${b.statement_ms_per_request.toFixed(2)} ms in all (${stmts.map(([k, n]) => `${k} ${n}`).join(', ')})`,
  );
}
