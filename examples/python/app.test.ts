/**
 * The Python example keeps the app contract: alone (health 503 → 200, JSON in and out, the request
 * id echoed, request lines prefixed for attribution, 422 on bad input, a clean stop on SIGTERM), and
 * served by Gantry as a local command revision, its log line reaching the request's logs.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { eventually, startTestControl, type TestControl } from '../../test/support/control.ts';
import { freePort } from '../../test/support/free-port.ts';

const APP = fileURLToPath(new URL('./app.py', import.meta.url));

describe('the Python example alone', () => {
  let child: ChildProcess | undefined;
  const lines: string[] = [];
  afterEach(() => {
    child?.kill('SIGKILL');
  });

  it('answers 503 then 200 on /health, greets with the request id, and prefixes its request lines', async () => {
    const port = await freePort();
    child = spawn('python3', [APP], {
      env: { ...process.env, PORT: String(port) },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    createInterface({ input: child.stdout! }).on('line', (l) => lines.push(l));
    const url = `http://127.0.0.1:${port}`;
    const statuses: number[] = [];
    await eventually(async () => {
      const res = await fetch(`${url}/health`).catch(() => undefined);
      if (res) statuses.push(res.status);
      return res?.status === 200 ? true : undefined;
    });
    // setup() takes a moment, during which health says 503; never anything but 503 or 200.
    expect(statuses).toContain(503);
    expect(new Set(statuses)).toEqual(new Set([503, 200]));

    const res = await fetch(`${url}/`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-fal-request-id': 'req-py' },
      body: JSON.stringify({ name: 'Ada' }),
    });
    expect(res.status).toBe(200);
    expect(res.headers.get('x-fal-request-id')).toBe('req-py');
    expect(await res.json()).toEqual({ message: 'Hello, Ada!' });
    await eventually(async () => (lines.includes('[gantry:req=req-py] greeting Ada') ? true : undefined));

    const bad = await fetch(`${url}/`, { method: 'POST', body: JSON.stringify({ name: 3 }) });
    expect(bad.status).toBe(422);
    expect(await bad.json()).toEqual({ detail: 'name is required and must be a non-empty string' });

    const exited = new Promise<number | null>((r) => child!.once('exit', (code) => r(code)));
    child.kill('SIGTERM');
    expect(await exited).toBe(0);
  });
});

describe('the Python example under Gantry', () => {
  let control: TestControl;
  afterAll(async () => {
    await control?.close();
  });

  it('serves a request as a local command revision, with its log line in the request logs', async () => {
    control = await startTestControl();
    await control.deploy({ name: 'hello-python', command: ['python3', 'examples/python/app.py'] });
    const res = await fetch(`${control.url}/queue/test/hello-python`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'Grace' }),
    });
    const { request_id } = (await res.json()) as { request_id: string };
    const status = await eventually(
      async () => {
        const s = (await (
          await fetch(`${control.url}/queue/test/hello-python/requests/${request_id}/status?logs=1`)
        ).json()) as { status: string; logs: { message: string }[] };
        return s.status === 'COMPLETED' ? s : undefined;
      },
      150_000,
      'the request to complete',
    );
    expect(status.logs.map((l) => l.message)).toContain('greeting Grace');
    const result = await fetch(`${control.url}/queue/test/hello-python/requests/${request_id}`);
    expect(await result.json()).toEqual({ message: 'Hello, Grace!' });
  }, 180_000);
});
