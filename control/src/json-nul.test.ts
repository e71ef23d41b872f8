import { describe, expect, it } from 'vitest';
import { hasEscapedNul, replaceEscapedNul } from './json-nul.ts';

describe('NUL in JSON text', () => {
  it('finds and replaces escaped NULs, not an escaped backslash before "u0000"', () => {
    const withNul = JSON.stringify({ a: 'x\u0000y', b: ['\u0000'] });
    expect(hasEscapedNul(withNul)).toBe(true);
    expect(JSON.parse(replaceEscapedNul(withNul))).toEqual({ a: 'x\ufffdy', b: ['\ufffd'] });
    const backslash = JSON.stringify({ a: '\\u0000 is how JSON writes NUL' });
    expect(hasEscapedNul(backslash)).toBe(false);
    expect(replaceEscapedNul(backslash)).toBe(backslash);
    const both = JSON.stringify({ a: '\\\u0000' });
    expect(JSON.parse(replaceEscapedNul(both))).toEqual({ a: '\\\ufffd' });
  });
});
