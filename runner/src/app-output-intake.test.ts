import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { startAppOutputIntake } from './app-output-intake.ts';

let server: Server | undefined;
afterEach(() => server?.close());

describe('the app output intake (a FireLens log router posting to the runner)', () => {
  it("turns Fluent Bit's json_lines and json bodies into app lines, keeping the stream, dropping junk", async () => {
    const lines: [string, string][] = [];
    server = await startAppOutputIntake(0, (line, stream) => lines.push([stream, line]));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/app-output`;
    const post = (body: string) => fetch(url, { method: 'POST', body });
    const jsonLines = [
      { date: 1.5, log: 'loading weights\n', source: 'stdout', container_name: '/ecs-app' },
      { date: 1.6, log: 'CUDA warning', source: 'stderr' },
    ]
      .map((r) => JSON.stringify(r))
      .join('\n');
    expect((await post(`${jsonLines}\nnot json\n`)).status).toBe(200);
    expect((await post(JSON.stringify([{ log: 'ready', source: 'stdout' }, { nolog: 1 }]))).status).toBe(200);
    expect((await fetch(url)).status).toBe(405);
    expect(lines).toEqual([
      ['stdout', 'loading weights'],
      ['stderr', 'CUDA warning'],
      ['stdout', 'ready'],
    ]);
  });
});
