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

  it('a line that arrives late with its time goes to the request in flight when it was written', async () => {
    const sent: LogLine[] = [];
    let inFlight: string[] = [];
    const shipper = new LogShipper({
      send: async (logs) => {
        sent.push(...logs);
      },
      inFlight: () => inFlight,
      log: silentLog,
      flushMs: 60_000,
    });
    shipper.began('a', 1_000);
    shipper.ended('a', 2_000);
    shipper.began('b', 3_000);
    shipper.began('c', 3_500);
    shipper.ended('b', 4_000);
    inFlight = ['c'];
    // Posted by a log router after 'a' answered: written while only 'a' was in flight.
    shipper.push('written during a', 'stdout', 1_500);
    // Written while both b and c were in flight: nobody's (the in-flight rule would say c).
    shipper.push('written during b and c', 'stdout', 3_700);
    // Written between requests: the runner's.
    shipper.push('written between', 'stderr', 2_500);
    // No time: the request in flight now, as before.
    shipper.push('no time', 'stdout');
    await shipper.close();
    expect(sent.map((l) => [l.request_id, l.message])).toEqual([
      ['a', 'written during a'],
      [undefined, 'written during b and c'],
      [undefined, 'written between'],
      ['c', 'no time'],
    ]);
    expect(sent[0]!.timestamp).toBe(new Date(1_500).toISOString());
  });
});
