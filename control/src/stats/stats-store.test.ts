import { describe, expect, it } from 'vitest';
import { runnerSecondsByDay } from './stats-store.ts';

const at = (iso: string) => Date.parse(iso);

describe('runnerSecondsByDay', () => {
  it('splits a runner up across midnight between the two UTC days, per machine type', () => {
    const rows = runnerSecondsByDay([
      {
        app: 'acme/sd',
        environment: 'production',
        machine_type: 'GPU-A100',
        started: at('2026-11-30T23:59:00Z'),
        ended: at('2026-12-01T00:01:30Z'),
      },
      {
        app: 'acme/sd',
        environment: 'production',
        machine_type: 'CPU',
        started: at('2026-12-01T10:00:00Z'),
        ended: at('2026-12-01T10:00:10Z'),
      },
    ]);
    expect(rows).toEqual([
      {
        day: '2026-11-30',
        machine_type: 'GPU-A100',
        app: 'acme/sd',
        environment: 'production',
        runner_seconds: 60,
      },
      {
        day: '2026-12-01',
        machine_type: 'CPU',
        app: 'acme/sd',
        environment: 'production',
        runner_seconds: 10,
      },
      {
        day: '2026-12-01',
        machine_type: 'GPU-A100',
        app: 'acme/sd',
        environment: 'production',
        runner_seconds: 90,
      },
    ]);
  });
});
