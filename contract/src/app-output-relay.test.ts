import { describe, expect, it } from 'vitest';
import { decodeAppOutput, encodeAppOutput } from './app-output-relay.ts';

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
});
