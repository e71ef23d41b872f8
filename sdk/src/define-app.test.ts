import { spawn } from 'node:child_process';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { defineApp, type ListeningApp } from './define-app.ts';
import { HttpError } from './http-error.ts';
import { RawResponse } from './raw-response.ts';

const open: ListeningApp[] = [];
afterEach(async () => {
  await Promise.all(open.splice(0).map((app) => app.close()));
  vi.restoreAllMocks();
});

async function start(
  definition: Parameters<typeof defineApp>[0],
): Promise<{ app: ListeningApp; url: string }> {
  const app = await defineApp(definition).listen(0);
  open.push(app);
  return { app, url: `http://127.0.0.1:${app.port}` };
}

function post(url: string, body: string, requestId?: string): Promise<Response> {
  const headers: Record<string, string> = { 'content-type': 'application/json' };
  if (requestId) headers['x-fal-request-id'] = requestId;
  return fetch(url, { method: 'POST', headers, body });
}

function deferred(): { promise: Promise<void>; resolve: () => void } {
  let resolve = () => {};
  const promise = new Promise<void>((r) => {
    resolve = r;
  });
  return { promise, resolve };
}

describe('defineApp', () => {
  it('answers health 503 while setup runs and 200 once it finished', async () => {
    const gate = deferred();
    const { app, url } = await start({ setup: () => gate.promise, endpoints: { '/': () => ({ ok: true }) } });

    const during = await fetch(`${url}/health`);
    expect(during.status).toBe(503);
    expect(await during.json()).toEqual({ status: 'SETUP' });
    const early = await post(`${url}/`, '{}');
    expect(early.status).toBe(503);

    gate.resolve();
    await app.ready;
    const after = await fetch(`${url}/health`);
    expect(after.status).toBe(200);
    expect(await after.json()).toEqual({ status: 'READY' });
  });

  it('answers health 500 with the reason when setup throws', async () => {
    const { app, url } = await start({
      setup: () => {
        throw new Error('weights missing');
      },
      endpoints: {},
    });
    await expect(app.ready).rejects.toThrow('weights missing');
    const health = await fetch(`${url}/health`);
    expect(health.status).toBe(500);
    expect(await health.json()).toEqual({ status: 'SETUP_FAILED', detail: 'weights missing' });
  });

  it('routes POSTs by path with the JSON input and the caller request id', async () => {
    const { app, url } = await start({
      endpoints: {
        '/': (input, ctx) => ({ root: input, id: ctx.requestId }),
        '/stream-free/other': (input) => ({ other: input }),
      },
    });
    await app.ready;

    const root = await post(`${url}/`, '{"a":1}', 'req-1');
    expect(root.status).toBe(200);
    expect(root.headers.get('content-type')).toBe('application/json');
    expect(await root.json()).toEqual({ root: { a: 1 }, id: 'req-1' });

    const other = await post(`${url}/stream-free/other`, '[1,2]');
    expect(await other.json()).toEqual({ other: [1, 2] });
  });

  it('answers errors as JSON {detail} with the right status', async () => {
    const { app, url } = await start({
      endpoints: {
        '/teapot': () => {
          throw new HttpError(422, 'name is required');
        },
        '/boom': () => {
          throw new Error('out of memory');
        },
      },
    });
    await app.ready;
    vi.spyOn(console, 'error').mockImplementation(() => {});

    const notJson = await post(`${url}/teapot`, '{nope');
    expect(notJson.status).toBe(400);
    expect(await notJson.json()).toEqual({ detail: expect.stringMatching(/not valid JSON/) });

    const unknown = await post(`${url}/missing`, '{}');
    expect(unknown.status).toBe(404);
    expect(await unknown.json()).toEqual({ detail: 'no endpoint at /missing' });

    const http = await post(`${url}/teapot`, '{}');
    expect(http.status).toBe(422);
    expect(await http.json()).toEqual({ detail: 'name is required' });

    const boom = await post(`${url}/boom`, '{}');
    expect(boom.status).toBe(500);
    expect(await boom.json()).toEqual({ detail: 'out of memory' });
  });

  it('aborts ctx.signal when POST <path>/cancel arrives for that request id', async () => {
    const started = deferred();
    const { app, url } = await start({
      endpoints: {
        '/slow': (_input, ctx) =>
          new Promise((_resolve, reject) => {
            started.resolve();
            ctx.signal.addEventListener('abort', () => reject(ctx.signal.reason));
          }),
      },
    });
    await app.ready;

    const pending = post(`${url}/slow`, '{}', 'req-9');
    await started.promise;
    const wrongId = await post(`${url}/slow/cancel`, '', 'req-other');
    expect(wrongId.status).toBe(404);
    const cancel = await post(`${url}/slow/cancel`, '', 'req-9');
    expect(cancel.status).toBe(202);

    const answer = await pending;
    expect(answer.status).toBe(499);
    expect(await answer.json()).toEqual({ detail: 'request cancelled' });
  });

  it('prefixes console output and ctx.log inside a handler with the request id, and only there', async () => {
    const log = vi.spyOn(console, 'log').mockImplementation(() => {});
    const warn = vi.spyOn(console, 'warn').mockImplementation(() => {});
    const stdout = vi.spyOn(process.stdout, 'write').mockImplementation(() => true);
    const { app, url } = await start({
      endpoints: {
        '/': async (_input, ctx) => {
          console.log('step %d', 1);
          await new Promise((resolve) => setTimeout(resolve, 1));
          console.warn('two\nlines');
          ctx.log('via ctx', { n: 2 });
          return null;
        },
      },
    });
    await app.ready;
    console.log('outside');

    await post(`${url}/`, '{}', 'abc');
    const printed = stdout.mock.calls.map((call) => String(call[0]));
    stdout.mockRestore();

    expect(log.mock.calls).toEqual([['outside'], ['[gantry:req=abc] step 1']]);
    expect(warn.mock.calls).toEqual([['[gantry:req=abc] two\n[gantry:req=abc] lines']]);
    expect(printed).toContain('[gantry:req=abc] via ctx { n: 2 }\n');
  });

  it('runs teardown on close after setup succeeded', async () => {
    const teardown = vi.fn();
    const app = await defineApp({ endpoints: {}, teardown }).listen(0);
    await app.ready;
    await app.close();
    expect(teardown).toHaveBeenCalledOnce();
  });
});

describe('what endpoints answer besides JSON', () => {
  it('streams an async iterable as server-sent events, each written as soon as it is yielded', async () => {
    const gate = deferred();
    const { url } = await start({
      endpoints: {
        '/stream': async function* () {
          yield { n: 1 };
          await gate.promise;
          yield { n: 2, text: 'é' };
        },
      },
    });
    const res = await post(`${url}/stream`, '{}');
    expect(res.headers.get('content-type')).toBe('text/event-stream');
    const reader = res.body!.getReader();
    const first = new TextDecoder().decode((await reader.read()).value);
    expect(first).toBe('data: {"n":1}\n\n');
    gate.resolve();
    let rest = '';
    for (let r = await reader.read(); !r.done; r = await reader.read())
      rest += new TextDecoder().decode(r.value);
    expect(rest).toBe('data: {"n":2,"text":"é"}\n\n');
  });

  it('cuts the connection when the stream throws midway, so the caller cannot mistake it for an end', async () => {
    vi.spyOn(console, 'error').mockImplementation(() => {});
    const { url } = await start({
      endpoints: {
        '/stream': async function* () {
          yield { n: 1 };
          throw new Error('GPU fell off');
        },
      },
    });
    const res = await post(`${url}/stream`, '{}');
    const reader = res.body!.getReader();
    expect(new TextDecoder().decode((await reader.read()).value)).toBe('data: {"n":1}\n\n');
    await expect(reader.read()).rejects.toThrow();
  });

  it('a cancel cuts a stream at once, even while the endpoint waits for its next event', async () => {
    const { app, url } = await start({
      endpoints: {
        '/stream': async function* () {
          yield { n: 1 };
          // The next event never comes by itself: only the cancel can end this stream.
          await new Promise(() => {});
          yield { n: 2 };
        },
      },
    });
    await app.ready;
    const res = await post(`${url}/stream`, '{}', 'req-stream');
    const reader = res.body!.getReader();
    expect(new TextDecoder().decode((await reader.read()).value)).toBe('data: {"n":1}\n\n');
    const cancel = await post(`${url}/stream/cancel`, '', 'req-stream');
    expect(cancel.status).toBe(202);
    // Cut short, not ended: the runner must not take a cancelled stream for a finished one.
    await expect(reader.read()).rejects.toThrow();
  });

  it('sends a RawResponse as its bytes with its content type', async () => {
    const bytes = Uint8Array.from({ length: 256 }, (_, i) => i);
    const { url } = await start({ endpoints: { '/png': () => new RawResponse(bytes, 'image/png') } });
    const res = await post(`${url}/png`, '{}');
    expect(res.headers.get('content-type')).toBe('image/png');
    expect(Buffer.from(await res.arrayBuffer()).equals(Buffer.from(bytes))).toBe(true);
  });

  it('uploads an output file to the URL the runner passed, and answers the file object', async () => {
    const seen: { url: string; type: string | undefined; body: Buffer }[] = [];
    const files = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        seen.push({ url: req.url ?? '', type: req.headers['content-type'], body: Buffer.concat(chunks) });
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(
          JSON.stringify({
            url: 'http://files/1',
            content_type: 'image/png',
            file_name: 'a.png',
            file_size: 3,
          }),
        );
      });
    });
    await new Promise<void>((r) => files.listen(0, '127.0.0.1', r));
    const filesUrl = `http://127.0.0.1:${(files.address() as AddressInfo).port}/files/o/env-1?exp=9&sig=s`;
    try {
      const { url } = await start({
        endpoints: {
          '/': async (_input, ctx) => ({
            image: await ctx.uploadFile(new Uint8Array([1, 2, 3]), {
              contentType: 'image/png',
              fileName: 'a.png',
            }),
          }),
        },
      });
      const res = await fetch(`${url}/`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-gantry-files-url': filesUrl },
        body: '{}',
      });
      expect(await res.json()).toEqual({
        image: { url: 'http://files/1', content_type: 'image/png', file_name: 'a.png', file_size: 3 },
      });
      expect(seen).toEqual([
        {
          url: '/files/o/env-1?exp=9&sig=s&file_name=a.png',
          type: 'image/png',
          body: Buffer.from([1, 2, 3]),
        },
      ]);
    } finally {
      files.close();
    }
  });

  it('answers a data: URL for an output file when run outside Gantry', async () => {
    const { url } = await start({
      endpoints: {
        '/': (_input, ctx) => ctx.uploadFile('hi', { contentType: 'text/plain', fileName: 'hi.txt' }),
      },
    });
    expect(await (await post(`${url}/`, '{}')).json()).toEqual({
      url: 'data:text/plain;base64,aGk=',
      content_type: 'text/plain',
      file_name: 'hi.txt',
      file_size: 2,
    });
  });
});

describe('runApp', () => {
  const repoRoot = fileURLToPath(new URL('../..', import.meta.url));

  it('exits non-zero when setup fails, so the runner sees the crash', async () => {
    const script = `
      import { defineApp, runApp } from './sdk/src/index.ts';
      runApp(defineApp({ setup() { throw new Error('no GPU'); }, endpoints: {} }));
    `;
    const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
      cwd: repoRoot,
      env: { ...process.env, PORT: '0' },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
    expect(code).toBe(1);
    expect(stderr).toContain('no GPU');
  });
});
