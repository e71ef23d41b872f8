/**
 * What a busy machine costs: sequential warm calls straight to the app and through Gantry, first
 * as the machine is, then with a CPU hog spinning on every core (one process per core, nice 0, as
 * another tenant's work would). The goal: Gantry slows down no more, in proportion, than the
 * direct call does (ratio of the two slowdowns ≤ 1).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { availableParallelism } from 'node:os';
import { post, startDirectApp, startFleet } from './fleet.ts';

export interface BusyFigures {
  n: number;
  hogs: number;
  direct: { as_is_p50_ms: number; busy_p50_ms: number; slowdown: number };
  gantry: { as_is_p50_ms: number; busy_p50_ms: number; slowdown: number };
  /** Gantry's slowdown over the direct call's: ≤ 1 meets the goal. */
  ratio: number;
}

async function p50(call: () => Promise<void>, n: number): Promise<number> {
  const xs: number[] = [];
  for (let i = 0; i < n; i++) {
    const t = performance.now();
    await call();
    xs.push(performance.now() - t);
  }
  xs.sort((a, b) => a - b);
  return xs[Math.floor(xs.length / 2)]!;
}

/** One spinning process per core; killed by the caller. */
function startHogs(count: number): ChildProcess[] {
  return Array.from({ length: count }, () =>
    spawn(process.execPath, ['-e', 'for(;;){}'], { stdio: 'ignore' }),
  );
}

export async function busyFigures(n: number): Promise<BusyFigures> {
  const fleet = await startFleet({ postgres: false, queue: 'embedded' });
  const direct = await startDirectApp();
  const app = () => post(`${direct.url}/`);
  const hogs: ChildProcess[] = [];
  try {
    for (let i = 0; i < 50; i++) await app();
    const asIs = { direct: await p50(app, n), gantry: await p50(fleet.run, n) };
    hogs.push(...startHogs(availableParallelism()));
    const busy = { direct: await p50(app, n), gantry: await p50(fleet.run, n) };
    const r = (x: number) => Math.round(x * 100) / 100;
    const direct_ = {
      as_is_p50_ms: r(asIs.direct),
      busy_p50_ms: r(busy.direct),
      slowdown: r(busy.direct / asIs.direct),
    };
    const gantry = {
      as_is_p50_ms: r(asIs.gantry),
      busy_p50_ms: r(busy.gantry),
      slowdown: r(busy.gantry / asIs.gantry),
    };
    return { n, hogs: hogs.length, direct: direct_, gantry, ratio: r(gantry.slowdown / direct_.slowdown) };
  } finally {
    for (const h of hogs) h.kill('SIGKILL');
    direct.proc.kill('SIGTERM');
    await fleet.close();
  }
}

export function printBusy(b: BusyFigures): void {
  console.log(`\nbusy machine (${b.n} sequential calls each; then ${b.hogs} CPU hogs, one per core)`);
  for (const [name, f] of [
    ['direct to the app', b.direct],
    ['through Gantry', b.gantry],
  ] as const) {
    console.log(
      `  ${name.padEnd(18)} p50 ${f.as_is_p50_ms.toFixed(2).padStart(7)} ms as is, ${f.busy_p50_ms.toFixed(2).padStart(7)} ms busy: × ${f.slowdown}`,
    );
  }
  console.log(`  Gantry's slowdown over the direct call's: ${b.ratio} (goal ≤ 1)`);
}
