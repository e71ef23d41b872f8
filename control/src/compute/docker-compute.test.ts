/**
 * What the container driver asks of the engine where no real engine can answer here: GPU device
 * requests (podman has no NVIDIA runtime on this machine). A recording stand-in of the few Engine API
 * calls the driver makes answers on a unix socket; behaviour on a real engine is in
 * docker-compute.contract.test.ts. Also: a missing engine stops control at start, naming DOCKER_HOST.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Duplex } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import type { Revision } from '../domain.ts';
import { isSchedulingFailure, type RunnerExit } from './compute-driver.ts';
import { DockerCompute } from './docker-compute.ts';
import { DockerEngine, engineTime, parseDockerHost } from './docker-engine.ts';

interface FakeContainer {
  name: string;
  body: {
    Image: string;
    HostConfig?: { DeviceRequests?: { DeviceIDs?: string[]; Capabilities: string[][]; Driver: string }[] };
  };
  stopped: boolean;
  waiters: ServerResponse[];
}

/** The Engine API calls the driver makes, answered from memory. */
async function startFakeEngine(): Promise<{
  dockerHost: string;
  containers: FakeContainer[];
  close(): Promise<void>;
}> {
  const dir = await mkdtemp(path.join(tmpdir(), 'gantry-fake-engine-'));
  const socketPath = path.join(dir, 'engine.sock');
  const containers: FakeContainer[] = [];
  const stopContainer = (c: FakeContainer) => {
    c.stopped = true;
    for (const w of c.waiters.splice(0)) w.end(JSON.stringify({ StatusCode: 0 }));
  };
  const byId = (url: string) => containers[Number(/\/containers\/c(\d+)\//.exec(url)?.[1] ?? -1)];
  const server: Server = createServer(async (req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const url = req.url ?? '';
    const c = byId(`${url}/`);
    if (url.endsWith('/_ping') || /\/images\/.*\/json$/.test(url)) return res.end('{}');
    if (url.includes('/containers/create')) {
      containers.push({
        name: new URL(url, 'http://x').searchParams.get('name') ?? '',
        body: JSON.parse(Buffer.concat(chunks).toString()),
        stopped: false,
        waiters: [],
      });
      return res.end(JSON.stringify({ Id: `c${containers.length - 1}` }));
    }
    if (url.includes('/containers/json')) return res.end('[]');
    if (!c) {
      res.statusCode = 404;
      return res.end(JSON.stringify({ message: 'no such container' }));
    }
    if (url.includes('/wait')) return c.stopped ? res.end('{"StatusCode":0}') : c.waiters.push(res);
    if (url.includes('/logs')) return c.stopped ? res.end() : c.waiters.push(res);
    if (url.includes('/kill') || url.includes('/stop')) stopContainer(c);
    res.statusCode = 204;
    res.end();
  });
  const upgraded: Duplex[] = [];
  server.on('upgrade', (_req, socket) => {
    upgraded.push(socket);
    socket.write('HTTP/1.1 101 UPGRADED\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n\r\n');
    socket.on('error', () => {});
  });
  await new Promise<void>((r) => server.listen(socketPath, r));
  return {
    dockerHost: `unix://${socketPath}`,
    containers,
    async close() {
      for (const c of containers) stopContainer(c);
      for (const s of upgraded) s.destroy();
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
      await rm(dir, { recursive: true, force: true });
    },
  };
}

const revision = (machineType: string[], numGpus?: number): Revision => ({
  id: 'rev-1',
  environment_id: 'env-1',
  number: 1,
  image: 'registry.example/app@sha256:' + 'a'.repeat(64),
  command: null,
  cwd: null,
  settings: {
    max_multiplexing: 1,
    startup_timeout: 60,
    machine_type: machineType,
    ...(numGpus ? { num_gpus: numGpus } : {}),
  },
  commit_sha: null,
  message: null,
  annotations: {},
  created_by: null,
  created_at: 0,
});

const spec = (n: number, machineType: string[], numGpus?: number) => ({
  runnerId: `runner-${n}`,
  token: 't',
  controlUrl: 'http://127.0.0.1:9',
  environmentId: 'env-1',
  revision: revision(machineType, numGpus),
  env: {},
});

describe('the container driver and GPUs', () => {
  let fake: Awaited<ReturnType<typeof startFakeEngine>> | undefined;
  afterEach(async () => {
    await fake?.close();
    fake = undefined;
  });

  const open = async (gpus: number) => {
    fake = await startFakeEngine();
    return DockerCompute.connect({
      engine: new DockerEngine(parseDockerHost(fake.dockerHost)),
      engineAddress: fake.dockerHost,
      runnerImage: 'gantry-runner',
      gpus,
      network: 'host',
    });
  };
  const appRequests = () =>
    fake!.containers.filter((c) => c.name.endsWith('-app')).map((c) => c.body.HostConfig?.DeviceRequests);

  it('asks for the machine type GPUs by index, packs runners onto free ones, and frees them when a runner ends', async () => {
    const compute = await open(2);
    const exits: RunnerExit[] = [];
    compute.onExit((e) => exits.push(e));
    await compute.start(spec(1, ['GPU-A10G']));
    await compute.start(spec(2, ['GPU-A10G']));
    expect(appRequests()).toEqual([
      [{ Driver: 'nvidia', DeviceIDs: ['0'], Capabilities: [['gpu']] }],
      [{ Driver: 'nvidia', DeviceIDs: ['1'], Capabilities: [['gpu']] }],
    ]);
    const full = (await compute.start(spec(3, ['GPU-A10G'])).catch((e: unknown) => e)) as Error;
    expect(isSchedulingFailure(full)).toBe(true);
    expect(full.message).toContain('GPU-A10G needs 1 GPU(s) and 0 of 2 are free');

    const ended = new Promise<void>((r) => compute.onExit(() => r()));
    await compute.kill('runner-1');
    await ended;
    await compute.start(spec(4, ['GPU-A10G']));
    expect(appRequests()[2]).toEqual([{ Driver: 'nvidia', DeviceIDs: ['0'], Capabilities: [['gpu']] }]);
    // A CPU machine type asks for no device at all.
    await compute.start(spec(5, ['CPU']));
    expect(appRequests()[3]).toBeUndefined();
    await compute.close(1_000);
  });

  it('num_gpus asks for that many GPUs, and room() tells the scaler how many more runners fit now', async () => {
    const compute = await open(4);
    expect(compute.room(revision(['GPU-A10G'], 2).settings)).toBe(2);
    await compute.start(spec(1, ['GPU-A10G'], 2));
    expect(appRequests()).toEqual([[{ Driver: 'nvidia', DeviceIDs: ['0', '1'], Capabilities: [['gpu']] }]]);
    expect(compute.room(revision(['GPU-A10G'], 2).settings)).toBe(1);
    expect(compute.room(revision(['GPU-A10G'], 3).settings)).toBe(0);
    expect(compute.room(revision(['GPU-A10G']).settings)).toBe(2);
    // A CPU fallback always fits; a type the host can never hold leaves the start to say why.
    expect(compute.room(revision(['GPU-A10G', 'CPU'], 3).settings)).toBe(Number.POSITIVE_INFINITY);
    expect(compute.room(revision(['GPU-H100'], 8).settings)).toBeUndefined();
    await compute.start(spec(2, ['GPU-A10G'], 2));
    expect(appRequests()[1]).toEqual([{ Driver: 'nvidia', DeviceIDs: ['2', '3'], Capabilities: [['gpu']] }]);
    expect(compute.room(revision(['GPU-A10G']).settings)).toBe(0);
    await compute.close(1_000);
  });

  it('a machine type the host can never hold is a scheduling failure saying why, and no container is made', async () => {
    const compute = await open(0);
    const err = (await compute.start(spec(1, ['GPU-H100'])).catch((e: unknown) => e)) as Error;
    expect(isSchedulingFailure(err)).toBe(true);
    expect(err.message).toBe(
      'no machine type fits this host: GPU-H100 needs 1 GPU(s) and this host has 0 (GANTRY_DOCKER_GPUS)',
    );
    expect(fake!.containers).toHaveLength(0);
  });
});

describe('a missing engine', () => {
  it('stops the driver from opening, naming DOCKER_HOST', async () => {
    const dockerHost = `unix://${path.join(tmpdir(), 'gantry-no-engine', 'docker.sock')}`;
    const err = (await DockerCompute.connect({
      engine: new DockerEngine(parseDockerHost(dockerHost)),
      engineAddress: dockerHost,
      runnerImage: 'gantry-runner',
      gpus: 0,
      network: 'host',
    }).catch((e: unknown) => e)) as Error;
    expect(err.message).toContain(`no container engine answers at ${dockerHost} (DOCKER_HOST)`);
  });
});

describe('the moment a followed log starts', () => {
  it('is Unix seconds with nine decimals, which Docker reads as nanoseconds', () => {
    expect(engineTime(1_700_000_000_123)).toBe('1700000000.123000000');
    expect(engineTime(1_700_000_000_007.9)).toBe('1700000000.007000000');
    expect(engineTime(1_700_000_001_000)).toBe('1700000001.000000000');
  });
});
