import { describe, expect, it } from 'vitest';
import { EventRelays } from './event-relay.ts';

const text = (chunks: Buffer[]) => Buffer.concat(chunks).toString('utf8');

describe('event relays', () => {
  it('gives a follower that attaches late the stream from its start, then each chunk as it comes', async () => {
    const relays = new EventRelays();
    const relay = relays.open('r1');
    relay.push(Buffer.from('data: 1\n\n'));
    const got: Buffer[] = [];
    relays.get('r1')!.follow({ onChunk: (c) => got.push(c) });
    expect(text(got)).toBe('data: 1\n\n');
    relay.push(Buffer.from('data: 2\n\n'));
    expect(text(got)).toBe('data: 1\n\ndata: 2\n\n');
    relay.end();
    await relay.ended;
  });

  it('wakes a caller waiting for the stream when the runner opens it, and not before', async () => {
    const relays = new EventRelays();
    let settle: () => void = () => {};
    const never = new Promise<void>((r) => {
      settle = r;
    });
    const waiting = relays.whenOpened('r2', never);
    const relay = relays.open('r2');
    expect(await waiting).toBe(relay);
    settle();
  });

  it('answers undefined when the request completes without a stream', async () => {
    const relays = new EventRelays();
    expect(await relays.whenOpened('r3', Promise.resolve())).toBeUndefined();
  });

  it('stops feeding a follower that stopped following', () => {
    const relays = new EventRelays();
    const relay = relays.open('r4');
    const got: Buffer[] = [];
    const stop = relay.follow({ onChunk: (c) => got.push(c) });
    relay.push(Buffer.from('a'));
    stop();
    relay.push(Buffer.from('b'));
    expect(text(got)).toBe('a');
  });

  it('tells the runner the caller hung up, whether its stream was open already or opens after', async () => {
    const relays = new EventRelays();
    const open = relays.open('r3');
    relays.abandon('r3');
    await open.abandoned;
    relays.abandon('r4');
    const late = relays.open('r4');
    await late.abandoned;
    // Another request's stream is not told anything.
    const other = relays.open('r5');
    const heard = await Promise.race([other.abandoned.then(() => true), Promise.resolve(false)]);
    expect(heard).toBe(false);
  });
});
