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
    expect(t && 'call' in t ? t.call : undefined).toMatchObject(call);
  });

  it.each([
    ['https://rest.fal.ai/storage/upload/initiate?storage_type=fal-cdn-v3', false],
    ['https://rest.alpha.fal.ai/storage/upload/initiate-multipart?storage_type=fal-cdn-v3', true],
  ])("maps fal's storage call %s onto Gantry's files", (url, multipart) => {
    expect(parseTarget(url, 'POST')).toEqual({ op: 'storage', multipart });
  });

  it.each([
    ['GET', 'https://evil.example.com/queue/a/b'],
    ['GET', 'not a url'],
    ['POST', 'https://rest.fal.ai/storage/upload'],
    ['GET', 'https://rest.fal.ai/storage/upload/initiate'],
    ['POST', 'https://rest.fal.ai/tokens/'],
    ['GET', 'https://queue.fal.run/onlyowner'],
    ['DELETE', 'https://queue.fal.run/a/b/requests/r1'],
    ['GET', 'https://fal.run/a/b'],
  ])('refuses %s %s', (method, url) => {
    expect(parseTarget(url, method, '127.0.0.1:8080')).toBeUndefined();
  });
});
