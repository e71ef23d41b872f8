import { describe, expect, it } from 'vitest';
import type { LogLine } from '../../contract/src/runner-protocol.ts';
import { LogShipper } from './log-shipper.ts';
import { silentLog } from './runner-log.ts';

describe('LogShipper', () => {
  it('sends a full batch at once, without waiting for the timer', async () => {
    const sent: LogLine[][] = [];
    const shipper = new LogShipper({
      send: async (logs) => {
        sent.push(logs);
      },
      inFlight: () => [],
      log: silentLog,
      flushMs: 60_000,
      batchLines: 3,
    });
    for (const n of [1, 2, 3]) shipper.push(`line ${n}`, 'stdout');
    await shipper.flush();
    expect(sent.map((batch) => batch.map((l) => l.message))).toEqual([['line 1', 'line 2', 'line 3']]);
    await shipper.close();
  });

  it('keeps a batch that failed to send, in order, for the next flush', async () => {
    let fail = true;
    const sent: string[] = [];
    const shipper = new LogShipper({
      send: async (logs) => {
        if (fail) throw new Error('control unreachable');
        sent.push(...logs.map((l) => l.message));
      },
      inFlight: () => ['only'],
      log: silentLog,
      flushMs: 60_000,
    });
    shipper.push('first', 'stdout');
    await shipper.flush();
    shipper.push('second', 'stderr');
    fail = false;
    await shipper.close();
    expect(sent).toEqual(['first', 'second']);
  });

  it('attributes by prefix first, then to the single request in flight, else to none', async () => {
    const batches: LogLine[][] = [];
    let inFlight = ['a'];
    const shipper = new LogShipper({
      send: async (logs) => {
        batches.push(logs);
      },
      inFlight: () => inFlight,
      log: silentLog,
      flushMs: 60_000,
    });
    shipper.push('[gantry:req=b] from b', 'stdout');
    shipper.push('from a', 'stderr');
    inFlight = ['a', 'b'];
    shipper.push('from either', 'stdout');
    await shipper.close();
    const lines = batches.flat();
    expect(lines.map((l) => [l.request_id, l.message, l.level])).toEqual([
      ['b', 'from b', 'STDOUT'],
      ['a', 'from a', 'STDERR'],
      [undefined, 'from either', 'STDOUT'],
    ]);
  });
});
