/**
 * A stand-in app for runner tests: a plain-JavaScript node:http server run with `node -e`, so it
 * starts in milliseconds. Behaviour by path (the JSON input tunes it):
 *   /echo {delay_ms}   → 200 {path, input, request_id, max_concurrent}
 *   /text              → 201 text/plain
 *   /crash             → prints a line, then the process exits with code 7 mid-request
 *   /log {out, err, delay_ms} → prints the lines to stdout / stderr, waits, answers {}
 *   /slow              → answers 499 {cancelled: true} once POST /slow/cancel names the request
 *   /binary            → 200 image/png: every byte value 0..255, twice
 *   /raw               → 200 with the request's own bytes and content type
 *   /files-url         → 200 {files_url}: the x-gantry-files-url header the app was given
 *   /sse {count, gap_ms, break_after} → server-sent events {"n": 1..count}, gap_ms apart; with
 *                        break_after, the connection is cut after that many events
 * Environment: FAKE_SETUP_MS delays readiness; FAKE_SETUP_FAIL=1 prints an error and exits 1.
 */

const SCRIPT = `
const http = require('node:http');
const port = Number(process.env.PORT);
const setupMs = Number(process.env.FAKE_SETUP_MS || 0);
const started = Date.now();
let inFlight = 0;
let maxConcurrent = 0;
const cancels = new Map();

if (process.env.FAKE_SETUP_FAIL === '1') {
  console.log('loading weights');
  console.error('CUDA error: out of memory');
  setTimeout(() => process.exit(1), 10);
} else {
  const server = http.createServer((req, res) => {
    const raw = [];
    req.on('data', (c) => { raw.push(c); });
    req.on('end', () => {
      const text = Buffer.concat(raw).toString('utf8');
      const id = req.headers['x-fal-request-id'];
      const reply = (status, body, type = 'application/json') => {
        res.writeHead(status, { 'content-type': type });
        res.end(type === 'application/json' ? JSON.stringify(body) : body);
      };
      if (req.url === '/health') {
        return Date.now() - started >= setupMs ? reply(200, { status: 'READY' }) : reply(503, { status: 'SETUP' });
      }
      if (req.url === '/raw') {
        res.writeHead(200, { 'content-type': req.headers['content-type'] || 'application/octet-stream' });
        return res.end(Buffer.concat(raw));
      }
      if (req.url === '/files-url') {
        res.writeHead(200, { 'content-type': 'application/json' });
        return res.end(JSON.stringify({ files_url: req.headers['x-gantry-files-url'] }));
      }
      if (req.url === '/binary') {
        const bytes = Buffer.alloc(512, 0).map((_, i) => i % 256);
        res.writeHead(200, { 'content-type': 'image/png' });
        return res.end(bytes);
      }
      const input = text ? JSON.parse(text) : null;
      if (req.url === '/sse') {
        res.writeHead(200, { 'content-type': 'text/event-stream' });
        let n = 0;
        let cut = false;
        cancels.set(id, () => { cut = true; res.destroy(); });
        const next = () => {
          if (cut) return;
          if (input.break_after !== undefined && n >= input.break_after) return res.destroy();
          if (n >= input.count) return res.end();
          n++;
          res.write('data: ' + JSON.stringify({ n }) + '\\n\\n');
          setTimeout(next, input.gap_ms || 0);
        };
        return next();
      }
      if (req.url === '/slow/cancel' || req.url === '/sse/cancel') {
        const cancel = cancels.get(id);
        if (cancel) cancel();
        return reply(cancel ? 202 : 404, {});
      }
      inFlight++;
      maxConcurrent = Math.max(maxConcurrent, inFlight);
      const done = (status, body, type) => { inFlight--; reply(status, body, type); };
      const after = (ms, fn) => setTimeout(fn, ms || 0);
      switch (req.url) {
        case '/echo':
          return after(input && input.delay_ms, () =>
            done(200, { path: req.url, input, request_id: id, max_concurrent: maxConcurrent }));
        case '/text':
          return done(201, 'plain words', 'text/plain');
        case '/crash':
          console.log('about to crash');
          return after(20, () => process.exit(7));
        case '/log':
          for (const line of input.out || []) console.log(line);
          for (const line of input.err || []) console.error(line);
          return after(input.delay_ms, () => done(200, {}));
        case '/slow':
          return cancels.set(id, () => done(499, { cancelled: true }));
        default:
          return done(404, { detail: 'no endpoint ' + req.url });
      }
    });
  });
  server.listen(port, '127.0.0.1');
  process.on('SIGTERM', () => process.exit(0));
}
`;

/** argv for GANTRY_APP_COMMAND / RunnerConfig.appCommand. */
export const FAKE_APP_COMMAND: string[] = [process.execPath, '-e', SCRIPT];
