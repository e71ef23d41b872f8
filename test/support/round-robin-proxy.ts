/**
 * A loopback HTTP proxy in front of several control processes, as a load balancer is in
 * production: each request goes to the next upstream in turn. Like a load balancer whose target
 * just died, a request that could not be sent (connection refused) goes to the next upstream,
 * and a read (GET) that failed midway is sent again elsewhere; a write cut off midway answers 502,
 * which a client may retry (the fal client does).
 */
import { createServer, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface RoundRobinProxy {
  url: string;
  /** Requests answered 502 because their upstream went away after they were sent. */
  cutOff: number;
  close(): Promise<void>;
}

export async function startRoundRobinProxy(upstreams: string[]): Promise<RoundRobinProxy> {
  let turn = 0;
  const state = { cutOff: 0 };
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      const first = turn++;
      let current: ReturnType<typeof request> | undefined;
      // The caller hung up (a long poll given up): let the upstream know.
      res.on('close', () => {
        if (!res.writableFinished) current?.destroy();
      });
      const attempt = (n: number): void => {
        const to = new URL(upstreams[(first + n) % upstreams.length]!);
        let answered = false;
        const out = request(
          {
            host: to.hostname,
            port: to.port,
            method: req.method,
            // A connection of its own: a refused connection then means the request was never sent.
            agent: false,
            path: req.url,
            headers: { ...req.headers, host: to.host },
          },
          (up) => {
            answered = true;
            res.writeHead(up.statusCode ?? 502, up.headers);
            up.pipe(res);
            up.on('error', () => res.destroy());
          },
        );
        current = out;
        out.on('error', (err: NodeJS.ErrnoException) => {
          if (answered) {
            res.destroy();
            return;
          }
          const retryable = err.code === 'ECONNREFUSED' || req.method === 'GET' || req.method === 'HEAD';
          // Every upstream tried once, and then some: the whole pool is down.
          if (retryable && n < upstreams.length * 20) {
            setTimeout(() => attempt(n + 1), n < upstreams.length ? 0 : 100);
            return;
          }
          state.cutOff++;
          if (!res.headersSent) res.writeHead(502, { 'content-type': 'text/plain' });
          res.end('upstream went away');
        });
        out.end(body);
      };
      attempt(0);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    get cutOff() {
      return state.cutOff;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
