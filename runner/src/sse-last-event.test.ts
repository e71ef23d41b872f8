import { describe, expect, it } from 'vitest';
import { LastEventTracker } from './sse-last-event.ts';

const feed = (...chunks: (string | Uint8Array)[]) => {
  const t = new LastEventTracker();
  for (const c of chunks) t.push(typeof c === 'string' ? new TextEncoder().encode(c) : c);
  return t.data();
};

describe('the last event of a stream', () => {
  it('is the data of the last complete event, not of one still open', () => {
    expect(feed('data: {"n":1}\n\ndata: {"n":2}\n\ndata: {"n":3}')).toBe('{"n":2}');
    expect(feed('data: {"n":1}\n\n', 'data: {"n":2}\n', '\n')).toBe('{"n":2}');
  });

  it('joins multi-line data, ignores comments and other fields, and takes any line ending', () => {
    expect(feed(': keep-alive\r\n\r\nevent: x\r\nid: 7\r\ndata: a\r\ndata:b\r\n\r\n')).toBe('a\nb');
    expect(feed('data: one\r', '\ndata: two\r', '\r')).toBe('one\ntwo');
  });

  it('keeps a character split across chunks whole', () => {
    const bytes = new TextEncoder().encode('data: "é✓"\n\n');
    expect(feed(bytes.subarray(0, 8), bytes.subarray(8))).toBe('"é✓"');
  });

  it('has nothing before an event ends, and skips events without data', () => {
    expect(feed('data: x')).toBeUndefined();
    expect(feed('data: x\n\nevent: ping\n\n')).toBe('x');
  });
});
