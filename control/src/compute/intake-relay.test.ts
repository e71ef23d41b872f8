import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, expect, it } from 'vitest';
import { decodeFirelensRecords } from '../../../contract/src/app-output-relay.ts';
import { IntakeRelay } from './intake-relay.ts';

describe('the relay into a runner output intake', () => {
  it('keeps lines until the intake listens, then delivers them all, in order, once', async () => {
    // A port that was free a moment ago: nothing listens there until the "runner" starts.
    const probe = createServer();
    await new Promise<void>((r) => probe.listen(0, '127.0.0.1', r));
    const port = (probe.address() as AddressInfo).port;
    await new Promise<void>((r) => probe.close(() => r()));

    const relay = new IntakeRelay(port);
    relay.write('stdout', 'before the runner');
    relay.write('stderr', 'also before');

    const got: { stream: string; line: string }[] = [];
    const intake = createServer((req, res) => {
      let body = '';
      req.on('data', (c: Buffer) => (body += c.toString()));
      req.on('end', () => {
        got.push(...decodeFirelensRecords(body));
        res.end();
      });
    });
    await new Promise<void>((r) => intake.listen(port, '127.0.0.1', r));
    relay.write('stdout', 'after');
    for (let i = 0; i < 200 && got.length < 3; i++) await new Promise((r) => setTimeout(r, 50));
    relay.close();
    relay.write('stdout', 'after close');
    await new Promise((r) => setTimeout(r, 300));
    intake.closeAllConnections();
    await new Promise<void>((r) => intake.close(() => r()));
    expect(got).toEqual([
      { stream: 'stdout', line: 'before the runner' },
      { stream: 'stderr', line: 'also before' },
      { stream: 'stdout', line: 'after' },
    ]);
  });
});
