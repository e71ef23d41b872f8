import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { AppProcess, AppStartError } from './app-process.ts';

const servers: Server[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => new Promise((resolve) => s.close(resolve))));
});

const base = {
  cwd: process.cwd(),
  env: { PATH: process.env['PATH'] ?? '' },
  onLine: () => {},
  healthIntervalMs: 10,
};

describe('AppProcess', () => {
  it('with no command, waits for the app beside the runner to become healthy', async () => {
    let healthy = false;
    const server = createServer((_req, res) => res.writeHead(healthy ? 200 : 503).end());
    servers.push(server);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const app = new AppProcess({
      ...base,
      command: undefined,
      port: (server.address() as AddressInfo).port,
      // A safety net only: the app turns healthy after 50 ms, and start() resolves then.
      startupTimeoutMs: 30_000,
    });
    setTimeout(() => {
      healthy = true;
    }, 50);
    await app.start();
    expect(healthy).toBe(true);
    expect(await app.exitWithin(0)).toBeUndefined();
  });

  it('kills an app that ignores SIGTERM once the grace is over', async () => {
    const lines: string[] = [];
    const script = `
      process.on('SIGTERM', () => console.log('ignoring SIGTERM'));
      require('node:http').createServer((q, s) => s.end()).listen(Number(process.env.PORT), '127.0.0.1');
    `;
    const app = new AppProcess({
      ...base,
      command: [process.execPath, '-e', script],
      env: { ...base.env, PORT: '0' },
      port: 1,
      startupTimeoutMs: 100,
      onLine: (line) => lines.push(line),
    });
    // Port 1 never answers, so start gives up; the process is still alive to be stopped.
    await expect(app.start()).rejects.toBeInstanceOf(AppStartError);
    await app.stop(100);
    expect((await app.exited).signal).toBe('SIGKILL');
    expect(lines).toContain('ignoring SIGTERM');
  });

  it('reports the last answer, not the timeout of a check the deadline cut short', async () => {
    let calls = 0;
    // Answers 503 once, then never: every later check is cut short by the deadline and times out.
    const fetch = ((_url: string, init?: RequestInit) => {
      calls += 1;
      if (calls === 1) return Promise.resolve(new Response('{"status":"SETUP"}', { status: 503 }));
      return new Promise((_resolve, reject) => {
        init?.signal?.addEventListener('abort', () => reject(init.signal?.reason));
      });
    }) as typeof globalThis.fetch;
    const app = new AppProcess({ ...base, command: undefined, port: 1, startupTimeoutMs: 300, fetch });
    await expect(app.start()).rejects.toThrow(
      /did not become healthy within 0\.3 s \(last health check: 503 \{"status":"SETUP"\}\)/,
    );
    expect(calls).toBeGreaterThan(1);
  });

  it('says so when the command cannot be started', async () => {
    const app = new AppProcess({ ...base, command: ['/no/such/binary'], port: 1, startupTimeoutMs: 1_000 });
    await expect(app.start()).rejects.toThrow(/could not be started \(spawn \/no\/such\/binary ENOENT\)/);
  });
});
