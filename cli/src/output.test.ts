import { describe, expect, it } from 'vitest';
import { renderTable } from './output.ts';

describe('renderTable', () => {
  it('keeps a multi-line cell on its row, so the columns hold', () => {
    const out = renderTable(
      ['ID', 'STATE', 'DETAIL'],
      [
        ['r1', 'CRASH_BACKOFF', 'exited with code 1:\nError: boom\n    at main (app.js:3)'],
        ['r2', 'IDLE', null],
      ],
    );
    const lines = out.trimEnd().split('\n');
    expect(lines).toHaveLength(3);
    expect(lines[1]).toBe('r1  CRASH_BACKOFF  exited with code 1: ⏎ Error: boom ⏎ at main (app.js:3)');
    expect(lines[2]).toBe('r2  IDLE           -');
  });
});
