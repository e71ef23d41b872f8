import { describe, expect, it } from 'vitest';
import { RUNTIME_SETTINGS } from '../../../contract/src/scaling-settings.ts';
import { autoscale, type Observation, type RunnerObservation } from './autoscaler.ts';

const NOW = 1_000_000;
const defaults = Object.fromEntries(Object.entries(RUNTIME_SETTINGS).map(([k, v]) => [k, v.default]));

type ObsInput = Omit<Partial<Observation>, 'settings' | 'work'> & {
  settings?: Partial<Observation['settings']>;
  /** Normal-priority work, the common case. */
  queued?: number;
  inFlight?: number;
  work?: Observation['work'];
};

function obs(p: ObsInput = {}): Observation {
  const { queued = 0, inFlight = 0, settings, ...rest } = p;
  return {
    now: NOW,
    work: { normal: { queued, inFlight }, low: { queued: 0, inFlight: 0 } },
    oldestQueuedAt: null,
    runners: [],
    backoff: null,
    ...rest,
    settings: {
      ...(defaults as Observation['settings']),
      max_multiplexing: 1,
      startup_timeout: 300,
      ...settings,
    },
  };
}
const runner = (id: string, p: Partial<RunnerObservation> = {}): RunnerObservation => ({
  id,
  state: 'IDLE',
  inFlight: 0,
  createdAt: NOW - 60_000,
  lastActiveAt: NOW - 60_000,
  served: true,
  drainRequested: false,
  ...p,
});

describe('autoscale', () => {
  const cases: [string, Observation, { start: number; drain: string[]; stop?: string[] }][] = [
    ['nothing to do at zero', obs(), { start: 0, drain: [] }],
    [
      'scales from zero on the first request',
      obs({ queued: 1, oldestQueuedAt: NOW }),
      { start: 1, drain: [] },
    ],
    [
      'one runner per max_multiplexing slots',
      obs({ queued: 9, oldestQueuedAt: NOW, settings: { max_multiplexing: 4, max_concurrency: 10 } }),
      { start: 3, drain: [] },
    ],
    [
      'caps at max_concurrency',
      obs({ queued: 50, oldestQueuedAt: NOW, settings: { max_concurrency: 3 } }),
      { start: 3, drain: [] },
    ],
    [
      'counts starting runners, so repeated submits do not over-start',
      obs({
        queued: 2,
        oldestQueuedAt: NOW,
        runners: [runner('a', { state: 'PENDING', lastActiveAt: null })],
      }),
      { start: 1, drain: [] },
    ],
    [
      'keeps min_concurrency with no traffic',
      obs({ settings: { min_concurrency: 2 } }),
      { start: 2, drain: [] },
    ],
    ['keeps a buffer of warm runners', obs({ settings: { concurrency_buffer: 1 } }), { start: 1, drain: [] }],
    [
      'buffer percentage of demand, rounded up',
      obs({ queued: 4, oldestQueuedAt: NOW, settings: { concurrency_buffer_perc: 50, max_concurrency: 10 } }),
      { start: 6, drain: [] },
    ],
    [
      'scaling_delay holds back demand-driven scale-up',
      obs({ queued: 1, oldestQueuedAt: NOW - 1000, settings: { scaling_delay: 5 } }),
      { start: 0, drain: [] },
    ],
    [
      'scaling_delay passed: scale',
      obs({ queued: 1, oldestQueuedAt: NOW - 6000, settings: { scaling_delay: 5 } }),
      { start: 1, drain: [] },
    ],
    [
      'scaling_delay never holds back min_concurrency',
      obs({ queued: 5, oldestQueuedAt: NOW, settings: { scaling_delay: 5, min_concurrency: 1 } }),
      { start: 1, drain: [] },
    ],
    ['drains an idle runner after keep_alive', obs({ runners: [runner('a')] }), { start: 0, drain: ['a'] }],
    [
      'keeps an idle runner within keep_alive',
      obs({ runners: [runner('a', { lastActiveAt: NOW - 5_000 })] }),
      { start: 0, drain: [] },
    ],
    [
      'never drains a busy runner',
      obs({ runners: [runner('a', { state: 'RUNNING', inFlight: 1 })] }),
      { start: 0, drain: [] },
    ],
    [
      'scale in drains the longest idle first, keeps what demand needs',
      obs({
        inFlight: 1,
        runners: [
          runner('busy', { state: 'RUNNING', inFlight: 1 }),
          runner('old', { lastActiveAt: NOW - 100_000 }),
          runner('newer', { lastActiveAt: NOW - 50_000 }),
        ],
      }),
      { start: 0, drain: ['old', 'newer'] },
    ],
    [
      'does not drain what min_concurrency keeps',
      obs({
        settings: { min_concurrency: 1 },
        runners: [runner('a'), runner('b', { lastActiveAt: NOW - 90_000 })],
      }),
      { start: 0, drain: ['b'] },
    ],
    [
      'draining runners are not capacity',
      obs({
        queued: 1,
        oldestQueuedAt: NOW,
        runners: [runner('a', { state: 'DRAINING', drainRequested: true })],
      }),
      { start: 1, drain: [] },
    ],
    [
      'crash backoff holds starts',
      obs({ queued: 1, oldestQueuedAt: NOW, backoff: { kind: 'crash', crashes: 1, until: NOW + 10_000 } }),
      { start: 0, drain: [] },
    ],
    [
      'crash backoff over: start',
      obs({ queued: 1, oldestQueuedAt: NOW, backoff: { kind: 'crash', crashes: 1, until: NOW - 1 } }),
      { start: 1, drain: [] },
    ],
    [
      'no capacity: retries wait',
      obs({ queued: 1, oldestQueuedAt: NOW, backoff: { kind: 'capacity', crashes: 0, until: NOW + 5_000 } }),
      { start: 0, drain: [] },
    ],
    [
      'low-priority work counts as demand too',
      obs({
        work: { normal: { queued: 1, inFlight: 0 }, low: { queued: 2, inFlight: 1 } },
        oldestQueuedAt: NOW,
        settings: { max_concurrency: 10 },
      }),
      { start: 4, drain: [] },
    ],
    [
      'in-flight work keeps its runners: no scale in below demand',
      obs({
        inFlight: 2,
        settings: { max_multiplexing: 2 },
        runners: [runner('busy', { state: 'RUNNING', inFlight: 2 }), runner('idle')],
      }),
      { start: 0, drain: ['idle'] },
    ],
    [
      'a runner that never served leaves after 10 s, not keep_alive',
      obs({
        settings: { keep_alive: 300 },
        runners: [runner('unused', { served: false, lastActiveAt: NOW - 11_000 })],
      }),
      { start: 0, drain: ['unused'] },
    ],
    [
      'a runner that never served is kept 10 s',
      obs({
        settings: { keep_alive: 300 },
        runners: [runner('unused', { served: false, lastActiveAt: NOW - 9_000 })],
      }),
      { start: 0, drain: [] },
    ],
    [
      'a shorter keep_alive still applies to a runner that never served',
      obs({
        settings: { keep_alive: 2 },
        runners: [runner('unused', { served: false, lastActiveAt: NOW - 3_000 })],
      }),
      { start: 0, drain: ['unused'] },
    ],
    [
      'a served runner waits the full keep_alive',
      obs({ settings: { keep_alive: 300 }, runners: [runner('used', { lastActiveAt: NOW - 11_000 })] }),
      { start: 0, drain: [] },
    ],
    [
      'with a buffer, an unused runner waits keep_alive like the others',
      obs({
        settings: { keep_alive: 300, concurrency_buffer: 1 },
        runners: [
          runner('a', { served: false, lastActiveAt: NOW - 11_000 }),
          runner('b', { served: false, lastActiveAt: NOW - 11_000 }),
        ],
      }),
      { start: 0, drain: [] },
    ],
    [
      'a runner stuck starting past startup_timeout is stopped, and not replaced in the same pass',
      obs({
        queued: 1,
        oldestQueuedAt: NOW,
        settings: { startup_timeout: 60 },
        runners: [runner('stuck', { state: 'SETUP', lastActiveAt: null, createdAt: NOW - 61_000 })],
      }),
      { start: 0, drain: [], stop: ['stuck'] },
    ],
    [
      'a runner starting within startup_timeout is left alone',
      obs({
        queued: 1,
        oldestQueuedAt: NOW,
        settings: { startup_timeout: 60 },
        runners: [runner('slow', { state: 'PENDING', lastActiveAt: null, createdAt: NOW - 59_000 })],
      }),
      { start: 0, drain: [] },
    ],
    [
      'a runner whose driver still waits for an instance has no startup clock yet, however long it waits',
      obs({
        queued: 1,
        oldestQueuedAt: NOW,
        settings: { startup_timeout: 60 },
        runners: [
          runner('provisioning', {
            state: 'PENDING',
            lastActiveAt: null,
            createdAt: NOW - 600_000,
            startingSince: null,
          }),
        ],
      }),
      { start: 0, drain: [] },
    ],
    [
      'startup_timeout counts from when the containers started, not from the request for an instance',
      obs({
        queued: 1,
        oldestQueuedAt: NOW,
        settings: { startup_timeout: 60 },
        runners: [
          runner('late', {
            state: 'SETUP',
            lastActiveAt: null,
            createdAt: NOW - 600_000,
            startingSince: NOW - 59_000,
          }),
          runner('stuck', {
            state: 'SETUP',
            lastActiveAt: null,
            createdAt: NOW - 600_000,
            startingSince: NOW - 61_000,
          }),
        ],
      }),
      { start: 0, drain: [], stop: ['stuck'] },
    ],
    [
      'scale to zero drains every idle runner past keep_alive',
      obs({ runners: [runner('a'), runner('b'), runner('c')] }),
      { start: 0, drain: ['a', 'b', 'c'] },
    ],
    [
      'with estimates, a short queue the busy runners clear within a cold start still adds one runner',
      obs({
        queued: 1,
        inFlight: 2,
        oldestQueuedAt: NOW,
        settings: { max_concurrency: 10 },
        estimates: { coldStartMs: 20_000, serviceMs: 2_000 },
        runners: [
          runner('a', { state: 'RUNNING', inFlight: 1 }),
          runner('b', { state: 'RUNNING', inFlight: 1 }),
        ],
      }),
      { start: 1, drain: [] },
    ],
    [
      'with estimates, scale out is paced by the cold start, not one runner per queued request',
      obs({
        queued: 30,
        inFlight: 1,
        oldestQueuedAt: NOW,
        settings: { max_concurrency: 50 },
        estimates: { coldStartMs: 20_000, serviceMs: 2_000 },
        runners: [runner('a', { state: 'RUNNING', inFlight: 1 })],
      }),
      // (31 × 2 s + 1 × 20 s) − 1 × 20 s = 62 s of work left after a cold start: 4 more runners, not 30.
      { start: 4, drain: [] },
    ],
    [
      'with estimates, activation from zero is still immediate',
      obs({ queued: 1, oldestQueuedAt: NOW, estimates: { coldStartMs: 20_000, serviceMs: 2_000 } }),
      { start: 1, drain: [] },
    ],
  ];
  it.each(cases)('%s', (_name, o, expected) => {
    const d = autoscale(o);
    expect({ start: d.start, drain: d.drain, stop: d.stop }).toEqual({ stop: [], ...expected });
  });

  it('never exceeds max_concurrency live runners, whatever the load', () => {
    for (let live = 0; live <= 6; live++) {
      for (const queued of [0, 1, 5, 100]) {
        const runners = Array.from({ length: live }, (_, i) =>
          runner(`r${i}`, { state: 'RUNNING', inFlight: 1 }),
        );
        const d = autoscale(
          obs({ queued, inFlight: live, oldestQueuedAt: NOW, runners, settings: { max_concurrency: 4 } }),
        );
        expect(live + d.start).toBeLessThanOrEqual(Math.max(4, live));
        expect(d.drain).toEqual([]);
      }
    }
  });
});
