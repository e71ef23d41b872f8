import { describe, expect, it } from 'vitest';
import { parseTarget } from './fal-proxy.ts';

describe('parseTarget', () => {
  it.each([
    ['POST', 'https://queue.fal.run/local/hello', 'submit', { owner: 'local', app: 'hello', path: '' }],
    ['POST', 'https://queue.fal.run/local/hello/sub/path', 'submit', { path: 'sub/path' }],
    [
      'GET',
      'https://queue.fal.run/local/hello/requests/r1/status?logs=1',
      'status',
      { requestId: 'r1', query: { logs: '1' } },
    ],
    [
      'GET',
      'https://queue.fal.run/local/hello/requests/r1/status/stream',
      'streamStatus',
      { requestId: 'r1' },
    ],
    ['GET', 'https://queue.fal.run/local/hello/requests/r1', 'result', { requestId: 'r1' }],
    ['PUT', 'https://queue.fal.run/local/hello/requests/r1/cancel', 'cancel', { requestId: 'r1' }],
    ['POST', 'https://fal.run/local/hello', 'run', { owner: 'local', app: 'hello' }],
    ['POST', 'http://127.0.0.1:8080/queue/local/hello--staging', 'submit', { app: 'hello--staging' }],
  ])('%s %s → %s', (method, url, op, call) => {
    const t = parseTarget(url, method, '127.0.0.1:8080');
    expect(t?.op).toBe(op);
    expect(t?.call).toMatchObject(call);
  });

  it.each([
    ['GET', 'https://evil.example.com/queue/a/b'],
    ['GET', 'not a url'],
    ['POST', 'https://rest.fal.ai/storage/upload'],
    ['GET', 'https://queue.fal.run/onlyowner'],
    ['DELETE', 'https://queue.fal.run/a/b/requests/r1'],
    ['GET', 'https://fal.run/a/b'],
  ])('refuses %s %s', (method, url) => {
    expect(parseTarget(url, method, '127.0.0.1:8080')).toBeUndefined();
  });
});
