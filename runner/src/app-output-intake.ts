/**
 * Takes the app's output from a log router (ECS FireLens: Fluent Bit's `http` output) on the task's
 * loopback: each POST body is the app container's records (contract/src/app-output-relay.ts). The
 * lines go to the runner, and a copy to the runner's own stdout, so CloudWatch keeps them too.
 */
import { createServer, type Server } from 'node:http';
import { type AppOutputStream, decodeFirelensRecords } from '../../contract/src/app-output-relay.ts';

/** Most one post may carry; Fluent Bit flushes far less at a time. */
const MAX_BODY_BYTES = 8 * 1024 * 1024;

export function startAppOutputIntake(
  port: number,
  onLine: (line: string, stream: AppOutputStream, at?: number) => void,
): Promise<Server> {
  const server = createServer((req, res) => {
    if (req.method !== 'POST') {
      res.statusCode = 405;
      res.end();
      return;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size <= MAX_BODY_BYTES) chunks.push(c);
    });
    req.on('end', () => {
      if (size > MAX_BODY_BYTES) {
        res.statusCode = 413;
        res.end();
        return;
      }
      for (const { line, stream, at } of decodeFirelensRecords(Buffer.concat(chunks).toString('utf8'))) {
        onLine(line, stream, at);
      }
      res.statusCode = 200;
      res.end();
    });
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    // Loopback only: the log router shares the task's network namespace; nothing else should post.
    server.listen(port, '127.0.0.1', () => resolve(server));
  });
}
