/**
 * `--soak MINUTES`: control's memory over a steady load at half the rate it just measured at its
 * peak (embedded queue, PGlite), sampled each minute. Control runs in this process (the bench
 * composes it), so the RSS is this process's: control's own plus the bench's caller, which keeps
 * nothing per request.
 */
import { drive, startFleet } from './fleet.ts';

export interface SoakFigures {
  minutes: number;
  peak_rps: number;
  rate_rps: number;
  sent: number;
  failed: number;
  /** RSS in MiB after warm-up and at each minute's end. */
  rss_mib: number[];
}

const mib = () => Math.round((process.memoryUsage().rss / 2 ** 20) * 10) / 10;

export async function soakFigures(minutes: number): Promise<SoakFigures> {
  const fleet = await startFleet({ postgres: false, queue: 'embedded' });
  try {
    const peak = await drive(fleet.run, 1000, 64);
    const rate = Math.max(1, Math.floor(peak.rps / 2));
    const rss = [mib()];
    let sent = 0;
    let failed = 0;
    const inFlight = new Set<Promise<void>>();
    const started = performance.now();
    // Open loop: a request every 1/rate s whatever the answers, at most 256 waiting at once.
    for (let minute = 1; minute <= minutes; minute++) {
      const end = started + minute * 60_000;
      while (performance.now() < end) {
        const due = started + (sent * 1000) / rate;
        const wait = due - performance.now();
        if (wait > 0) await new Promise((r) => setTimeout(r, wait));
        if (inFlight.size >= 256) {
          await Promise.race(inFlight);
          continue;
        }
        sent++;
        const p: Promise<void> = fleet.run().then(
          () => {},
          () => {
            failed++;
          },
        );
        inFlight.add(p);
        p.finally(() => inFlight.delete(p));
      }
      rss.push(mib());
    }
    await Promise.all(inFlight);
    return { minutes, peak_rps: peak.rps, rate_rps: rate, sent, failed, rss_mib: rss };
  } finally {
    await fleet.close();
  }
}

export function printSoak(s: SoakFigures): void {
  console.log(
    `\nsoak (${s.minutes} min at ${s.rate_rps} req/s, half the peak of ${s.peak_rps}; ${s.sent} sent, ${s.failed} failed)`,
  );
  console.log(
    `  control RSS (bench process): ${s.rss_mib[0]} MiB at the start → ${s.rss_mib[s.rss_mib.length - 1]} MiB at the end (each minute: ${s.rss_mib.join(', ')})`,
  );
}
