/**
 * A loopback HTTP proxy in front of the local SQS server that, while switched on, answers every
 * call with SQS's own throttling (400 ThrottlingException) and server errors (500 InternalError)
 * in turn, in the AWS JSON protocol, so the SDK raises them exactly as AWS would.
 */
import { createServer, request, type Server } from 'node:http';

export interface FaultyProxy {
  url: string;
  failing: boolean;
  served: { throttled: number; serverErrors: number; passed: number };
  close(): Promise<void>;
}

export async function startFaultyProxy(target: string): Promise<FaultyProxy> {
  const to = new URL(target);
  const state: FaultyProxy = {
    url: '',
    failing: false,
    served: { throttled: 0, serverErrors: 0, passed: 0 },
    close: async () => {},
  };
  let turn = 0;
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      if (state.failing) {
        const throttle = turn++ % 2 === 0;
        if (throttle) state.served.throttled++;
        else state.served.serverErrors++;
        const code = throttle ? 'ThrottlingException' : 'InternalError';
        res
          .writeHead(throttle ? 400 : 500, {
            'content-type': 'application/x-amz-json-1.0',
            'x-amzn-query-error': `${code};${throttle ? 'Sender' : 'Receiver'}`,
          })
          .end(JSON.stringify({ __type: `com.amazonaws.sqs#${code}`, message: 'injected by the test' }));
        return;
      }
      state.served.passed++;
      const up = request(
        { host: to.hostname, port: to.port, path: req.url, method: req.method, headers: req.headers },
        (r) => {
          res.writeHead(r.statusCode ?? 502, r.headers);
          r.pipe(res);
        },
      );
      up.on('error', () => res.writeHead(502).end());
      up.end(Buffer.concat(chunks));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const { port } = server.address() as { port: number };
  state.url = `http://127.0.0.1:${port}`;
  state.close = () =>
    new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    });
  return state;
}
