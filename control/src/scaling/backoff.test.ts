import { describe, expect, it } from 'vitest';
import { afterFailure, type Backoff } from './backoff.ts';

describe('afterFailure', () => {
  const cases: [string, Backoff | null, 'crash' | 'capacity', Backoff][] = [
    ['first crash waits 30 s', null, 'crash', { kind: 'crash', crashes: 1, until: 30_000 }],
    [
      'each crash adds 30 s',
      { kind: 'crash', crashes: 3, until: 0 },
      'crash',
      { kind: 'crash', crashes: 4, until: 120_000 },
    ],
    [
      'crash backoff is capped at 10 minutes',
      { kind: 'crash', crashes: 40, until: 0 },
      'crash',
      { kind: 'crash', crashes: 41, until: 600_000 },
    ],
    ['no capacity retries in 20 s', null, 'capacity', { kind: 'capacity', crashes: 0, until: 20_000 }],
    [
      'no capacity keeps the crash count and never shortens a running crash backoff',
      { kind: 'crash', crashes: 2, until: 60_000 },
      'capacity',
      { kind: 'capacity', crashes: 2, until: 60_000 },
    ],
  ];
  it.each(cases)('%s', (_name, prev, kind, expected) => {
    expect(afterFailure(prev, kind, 0)).toEqual(expected);
  });
});
