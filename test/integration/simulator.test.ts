/** The simulator runs and prints what the README documents; the figures themselves are not asserted. */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { manyAppsTick } from '../sim/many-apps.ts';
import { gantryPolicy } from '../sim/policies.ts';
import { runAll, runOnInstances } from '../sim/run.ts';
import { GPU_INSTANCES, GPU_MODEL, simulate } from '../sim/simulate.ts';
import { traces } from '../sim/traces.ts';

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

  it('on instances, an idle instance is paid until the scale-in delay, and a warm pool shortens the wait after idle', () => {
    const spike = traces(42, 0.05).find((t) => t.name === 'spike-after-idle')!;
    const policy = () => gantryPolicy('gantry');
    const quick = simulate(spike, policy(), GPU_MODEL, 7, { ...GPU_INSTANCES, scaleInDelayS: 60 });
    const slow = simulate(spike, policy(), GPU_MODEL, 7, { ...GPU_INSTANCES, scaleInDelayS: 1800 });
    expect(slow.instance_hours).toBeGreaterThan(quick.instance_hours);
    // Instances cost more than the runners on them: boots and empty time are billed too.
    expect(quick.instance_hours * 3600).toBeGreaterThan(quick.runner_seconds);
    const warm = simulate(spike, policy(), GPU_MODEL, 7, {
      ...GPU_INSTANCES,
      warmPool: { size: 4, resumeS: 20 },
    });
    expect(warm.p95_wait_s).toBeLessThan(quick.p95_wait_s);
    expect(runOnInstances(0.05).every((r) => r.instance_hours > 0)).toBe(true);
  });

  it('times one tick over many apps', () => {
    const t = manyAppsTick(500, 1);
    expect(t.apps).toBe(500);
    expect(t.tick_ms).toBeGreaterThanOrEqual(0);
  });
});
