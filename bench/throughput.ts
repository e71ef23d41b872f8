/**
 * Requests per second through one control process, end to end (POST /run, answer read), for each
 * store (PGlite; PostgreSQL when DATABASE_URL is set) and queue (embedded; SQS on fauxqs), with a
 * bounded number in flight as a caller's worker pool would keep them, and no request lost or failed.
 */
import type { QueueKind } from '../test/support/queues.ts';
import { drive, startFleet } from './fleet.ts';

export interface ThroughputRow {
  store: 'pglite' | 'postgres';
  queue: QueueKind;
  /** Requests sent → requests per second; failed must be 0. */
  runs: { n: number; rps: number; failed: number; first_error?: string }[];
}

export async function throughputFigures(o: {
  postgres: boolean;
  counts: number[];
  inFlight: number;
}): Promise<ThroughputRow[]> {
  const rows: ThroughputRow[] = [];
  const stores: ThroughputRow['store'][] = o.postgres ? ['pglite', 'postgres'] : ['pglite'];
  for (const store of stores) {
    for (const queue of ['embedded', 'sqs'] as const) {
      const fleet = await startFleet({ postgres: store === 'postgres', queue });
      try {
        const row: ThroughputRow = { store, queue, runs: [] };
        for (const n of o.counts) {
          const r = await drive(fleet.run, n, o.inFlight);
          row.runs.push({
            n,
            rps: r.rps,
            failed: r.failed,
            ...(r.firstError ? { first_error: r.firstError } : {}),
          });
        }
        rows.push(row);
      } finally {
        await fleet.close();
      }
    }
  }
  return rows;
}

export function printThroughput(rows: ThroughputRow[], inFlight: number): void {
  console.log(
    `\nthroughput (POST /run end to end, ${inFlight} in flight, 2 runners × max_multiplexing 16; goal ≥ 2,000 req/s on PostgreSQL)`,
  );
  for (const r of rows) {
    const runs = r.runs
      .map((x) => `${x.n} requests: ${String(x.rps).padStart(5)} req/s, ${x.failed} failed`)
      .join('   ');
    console.log(`  ${r.store.padEnd(9)} ${r.queue.padEnd(9)} ${runs}`);
    for (const x of r.runs) if (x.first_error) console.log(`    first failure (${x.n}): ${x.first_error}`);
  }
}
