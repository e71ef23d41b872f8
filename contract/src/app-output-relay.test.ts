import { describe, expect, it } from 'vitest';
import { decodeAppOutput, decodeFirelensRecords, encodeAppOutput } from './app-output-relay.ts';

describe('the app output relay', () => {
  it('carries a line and its stream through one JSON line, whatever the line holds', () => {
    const line = 'greeting "Ada"\t\\ [gantry:req=r1] ünïcode';
    const encoded = encodeAppOutput('stderr', line);
    expect(encoded.endsWith('\n')).toBe(true);
    expect(encoded.slice(0, -1)).not.toContain('\n');
    expect(decodeAppOutput(encoded.trimEnd())).toEqual({ stream: 'stderr', line });
  });

  it('ignores anything that is not a relayed line', () => {
    for (const junk of ['', 'hello', '{"a":1}', '["stdin","x"]', '["stdout",3]', '["stdout"]']) {
      expect(decodeAppOutput(junk)).toBeUndefined();
    }
  });

  it('reads FireLens records (json_lines or a JSON array) with their stream and the time they were written', () => {
    const records = [
      { date: 1_796_177_400.123, log: 'ready\n', source: 'stdout', ecs_task_arn: 'arn:aws:ecs:…' },
      { log: 'oops', source: 'stderr' },
      { source: 'stdout' },
    ];
    const want = [
      { stream: 'stdout', line: 'ready', at: 1_796_177_400_123 },
      { stream: 'stderr', line: 'oops' },
    ];
    expect(decodeFirelensRecords(records.map((r) => JSON.stringify(r)).join('\n'))).toEqual(want);
    expect(decodeFirelensRecords(JSON.stringify(records))).toEqual(want);
    expect(decodeFirelensRecords('{not json\n{"log":"kept","source":"stdout"}')).toEqual([
      { stream: 'stdout', line: 'kept' },
    ]);
  });
});
