import { createServer } from 'node:net';

/**
 * Asks the OS for a loopback port nobody listens on, for a server started moments later (an app
 * the runner spawns, a container's published port, a test's server). Another process may take it
 * in between; callers that cannot retry should bind port 0 themselves instead.
 */
export function freeLoopbackPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}
