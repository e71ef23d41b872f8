import { createServer as createHttpServer, type Server } from 'node:http';
import { createServer as createNetServer, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import type { Job } from '../../contract/src/runner-protocol.ts';
import { createAppAgent, forwardJob } from './forward-job.ts';

const closers: (() => void)[] = [];
afterEach(() => {
  for (const close of closers.splice(0)) close();
});

function jobOf(id: string, extra: Partial<Job> = {}): Job {
  return {
    receipt: `r-${id}`,
    request_id: id,
    path: 'run',
    input: { id },
    attempt: 1,
    timeout_s: 30,
    lease_s: 30,
    ...extra,
  };
}

async function listen(server: Server | ReturnType<typeof createNetServer>): Promise<number> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  closers.push(() => server.close());
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('no port');
  return address.port;
}

function forward(port: number, agent: ReturnType<typeof createAppAgent>, job: Job) {
  return forwardJob({
    port,
    agent,
    job,
    signal: new AbortController().signal,
    appExit: async () => undefined,
  });
}

/**
 * An app that keeps connections open after its first answer but resets each one as the next
 * request arrives on it, before reading it: what an app closing an idle connection looks like to
 * the runner when the close and the next job cross. Answers each first request with its request id.
 */
async function startClosingApp(): Promise<{ port: number; connections: () => number; seen: string[] }> {
  let connections = 0;
  const seen: string[] = [];
  const server = createNetServer((socket: Socket) => {
    connections += 1;
    let buffered = '';
    let answered = false;
    socket.on('data', (chunk: Buffer) => {
      if (answered) {
        socket.resetAndDestroy();
        return;
      }
      buffered += chunk.toString('latin1');
      const head = buffered.indexOf('\r\n\r\n');
      if (head < 0) return;
      const length = Number(/content-length: *(\d+)/i.exec(buffered.slice(0, head))?.[1] ?? 0);
      if (buffered.length < head + 4 + length) return;
      answered = true;
      const id = /x-fal-request-id: *(\S+)/i.exec(buffered)?.[1] ?? '';
      seen.push(id);
      const body = JSON.stringify({ id });
      socket.write(
        `HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: ${body.length}\r\nconnection: keep-alive\r\n\r\n${body}`,
      );
    });
    socket.on('error', () => {});
  });
  const port = await listen(server);
  return { port, connections: () => connections, seen };
}

describe('forwardJob over keep-alive', () => {
  it('reuses its connection to an app that keeps connections open', async () => {
    let connections = 0;
    const server = createHttpServer((req, res) => {
      req.resume();
      req.on('end', () => res.end(JSON.stringify({ id: req.headers['x-fal-request-id'] })));
    });
    server.on('connection', () => {
      connections += 1;
    });
    const port = await listen(server);
    const agent = createAppAgent();
    closers.push(() => agent.destroy());
    for (const id of ['a', 'b', 'c']) {
      const result = await forward(port, agent, jobOf(id));
      expect(result.outcome).toBe('response');
      expect(JSON.parse(Buffer.from(result.body_base64 ?? '', 'base64').toString())).toEqual({ id });
    }
    expect(connections).toBe(1);
  });

  it('resends a retryable job once on a new connection when the app resets the reused one unread', async () => {
    const app = await startClosingApp();
    const agent = createAppAgent();
    closers.push(() => agent.destroy());
    expect((await forward(app.port, agent, jobOf('a', { retryable: true }))).outcome).toBe('response');
    const second = await forward(app.port, agent, jobOf('b', { retryable: true }));
    expect(second.outcome).toBe('response');
    expect(JSON.parse(Buffer.from(second.body_base64 ?? '', 'base64').toString())).toEqual({ id: 'b' });
    expect(app.seen).toEqual(['a', 'b']);
    expect(app.connections()).toBe(2);
  });

  it('never resends a job control did not mark retryable: it fails as connection_error', async () => {
    const app = await startClosingApp();
    const agent = createAppAgent();
    closers.push(() => agent.destroy());
    expect((await forward(app.port, agent, jobOf('a'))).outcome).toBe('response');
    const second = await forward(app.port, agent, jobOf('b'));
    expect(second.outcome).toBe('connection_error');
    expect(app.seen).toEqual(['a']);
    expect(app.connections()).toBe(1);
  });

  it('does not resend when a new connection is reset: only a reused one can have crossed a close', async () => {
    const server = createNetServer((socket) => {
      socket.on('data', () => socket.resetAndDestroy());
      socket.on('error', () => {});
    });
    let connections = 0;
    server.on('connection', () => {
      connections += 1;
    });
    const port = await listen(server);
    const agent = createAppAgent();
    closers.push(() => agent.destroy());
    const result = await forward(port, agent, jobOf('a', { retryable: true }));
    expect(result.outcome).toBe('connection_error');
    expect(connections).toBe(1);
  });
});
