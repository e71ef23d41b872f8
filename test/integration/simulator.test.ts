/** The simulator runs and prints what the README documents; the figures themselves are not asserted. */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { manyAppsTick } from '../sim/many-apps.ts';
import { runAll } from '../sim/run.ts';

const run = promisify(execFile);

describe('simulator', () => {
  it('gives one row per trace and policy with the documented fields', () => {
    const rows = runAll(0.05);
    expect(rows.map((r) => `${r.trace}/${r.policy}`)).toEqual(
      ['steady', 'bursty', 'diurnal', 'spike-after-idle'].flatMap((t) =>
        ['gantry-default', 'gantry-keep-28', 'keda-baseline'].map((p) => `${t}/${p}`),
      ),
    );
    for (const r of rows) {
      expect(Object.keys(r)).toEqual([
        'trace',
        'policy',
        'runner_seconds',
        'p50_wait_s',
        'p95_wait_s',
        'p99_wait_s',
        'cold_starts',
      ]);
      expect(r.p50_wait_s).toBeLessThanOrEqual(r.p95_wait_s);
      expect(r.p95_wait_s).toBeLessThanOrEqual(r.p99_wait_s);
      expect(r.cold_starts).toBeGreaterThan(0);
    }
    // Deterministic: the same seed gives the same figures.
    expect(runAll(0.05)).toEqual(rows);
  });

  it('`npm run sim -- --json` prints a JSON array of those rows', async () => {
    const { stdout } = await run(process.execPath, ['--import', 'tsx', 'test/sim/run.ts', '--json'], {
      timeout: 60_000,
    });
    const rows = JSON.parse(stdout) as Record<string, unknown>[];
    expect(rows).toHaveLength(12);
    expect(rows[0]).toMatchObject({ trace: 'steady', policy: 'gantry-default' });
  });

  it('times one tick over many apps', () => {
    const t = manyAppsTick(500, 1);
    expect(t.apps).toBe(500);
    expect(t.tick_ms).toBeGreaterThanOrEqual(0);
  });
});
