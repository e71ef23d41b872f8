/**
 * The container driver through the compute contract, for real: podman's Docker API service runs
 * each runner as the runner image beside a small app image, sharing one network namespace. Then what
 * only this driver does: pulls that fail, GPUs the host lacks, and a control restart that finds its
 * containers again.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pushNodeBase } from '../../../test/support/base-image.ts';
import { buildGantryImage, buildImageFrom } from '../../../test/support/gantry-images.ts';
import { startTestRegistry, type TestRegistry } from '../../../test/support/oci-registry.ts';
import { startTestEngine, type TestEngine } from '../../../test/support/podman.ts';
import { startFakeControl } from '../../../test/support/runner-control.ts';
import type { Revision } from '../domain.ts';
import { computeContract } from './compute.contract.ts';
import { isSchedulingFailure, type RunnerExit } from './compute-driver.ts';
import { DockerCompute } from './docker-compute.ts';
import { DockerEngine, parseDockerHost } from './docker-engine.ts';

/**
 * Answers health checks on PORT, and prints a line at start (for the tail of its record); with
 * TICK_MS, a numbered line that often, so a test can see which of its lines reach control.
 */
const APP = `
console.log('tiny app listening on ' + process.env.PORT);
require('node:http').createServer((q, s) => s.end('ok')).listen(Number(process.env.PORT), '127.0.0.1');
process.on('SIGTERM', () => process.exit(0));
let tick = 0;
if (process.env.TICK_MS) setInterval(() => console.log('tick ' + tick++), Number(process.env.TICK_MS));
`;

const revision = (
  number: number,
  image: string | null,
  machineType = ['CPU'],
  startupTimeout = 60,
): Revision => ({
  id: `rev-${number}`,
  environment_id: 'env-contract',
  number,
  image,
  command: null,
  cwd: null,
  settings: { max_multiplexing: 1, startup_timeout: startupTimeout, machine_type: machineType },
  commit_sha: null,
  message: null,
  annotations: {},
  created_by: null,
  created_at: 0,
});

let registry: TestRegistry;
let engine: TestEngine;
let appImage: string;
let runnerImage: string;
let neverHealthyImage: string;

beforeAll(async () => {
  registry = await startTestRegistry();
  engine = await startTestEngine({ insecureRegistries: [registry.host] });
  const base = await pushNodeBase(registry.host);
  [runnerImage, appImage, neverHealthyImage] = await Promise.all([
    buildGantryImage({
      component: 'runner',
      baseImage: base,
      tag: 'localhost/gantry/runner:test',
      env: engine.env,
    }).then((b) => b.tag),
    buildImageFrom({
      containerfile: `FROM ${base}\nCOPY app.cjs /app.cjs\nCMD ["node", "/app.cjs"]\n`,
      files: { 'app.cjs': APP },
      tag: 'localhost/tiny-app:test',
      env: engine.env,
    }),
    // An app that runs but never listens: it can never become healthy.
    buildImageFrom({
      containerfile: `FROM ${base}\nCMD ["node", "-e", "console.log('loading forever'); setInterval(() => {}, 1000)"]\n`,
      files: {},
      tag: 'localhost/never-healthy:test',
      env: engine.env,
    }),
  ]);
}, 300_000);

afterAll(async () => {
  await engine?.close();
  await registry?.close();
});

/**
 * An engine client that can be cut off, as a control process that dies is: its connections close,
 * and whatever its driver asks afterwards never answers.
 */
class SeverableEngine extends DockerEngine {
  private severed = false;
  private readonly open_: { destroy(): void }[] = [];
  override async open(...args: Parameters<DockerEngine['open']>) {
    if (this.severed) return new Promise<never>(() => {});
    const res = await super.open(...args);
    this.open_.push(res);
    return res;
  }
  override async attachStdin(id: string) {
    if (this.severed) return new Promise<never>(() => {});
    const socket = await super.attachStdin(id);
    this.open_.push(socket);
    return socket;
  }
  sever(): void {
    this.severed = true;
    for (const c of this.open_.splice(0)) c.destroy();
  }
}

const open = (o: { gpus?: number; buildRunnerImage?: boolean; engine?: DockerEngine } = {}) =>
  DockerCompute.connect({
    engine: o.engine ?? new DockerEngine(parseDockerHost(engine.dockerHost)),
    engineAddress: engine.dockerHost,
    ...(o.buildRunnerImage ? {} : { runnerImage }),
    gpus: o.gpus ?? 0,
    network: 'host',
    drainGraceSeconds: 2,
  });

const running = async (id: string | undefined) =>
  id !== undefined &&
  (await engine.podman(['inspect', '--format', '{{.State.Running}}', id]).catch(() => 'false')).trim() ===
    'true';

computeContract('a container engine (podman)', async () => {
  const compute = await open();
  return {
    compute,
    runnable: revision(3, appImage),
    unrunnable: revision(7, null),
    isRunning: async (runnerId) => running(compute.containers(runnerId)?.runner),
    crash: async (runnerId) => {
      const id = compute.containers(runnerId)?.runner;
      if (id) await engine.podman(['kill', id]);
    },
    close: () => compute.close(10_000),
  };
});

describe('the container driver', { timeout: 240_000 }, () => {
  const spec = (n: number, rev: Revision) => ({
    runnerId: `runner-x${n}`,
    token: `token-${n}`,
    controlUrl: 'http://127.0.0.1:9',
    environmentId: 'env-x',
    revision: rev,
    env: {},
  });

  it('an image the registry does not have is a scheduling failure carrying the registry reason', async () => {
    const compute = await open();
    const missing = `${registry.host}/nobody/nothing@sha256:${'0'.repeat(64)}`;
    const err = (await compute.start(spec(1, revision(11, missing))).catch((e: unknown) => e)) as Error;
    expect(isSchedulingFailure(err)).toBe(true);
    expect(err.message).toContain(`image ${missing} cannot be pulled`);
    expect(err.message).toMatch(/manifest unknown|not found/i);
    expect(
      await engine.podman(['ps', '--all', '--quiet', '--filter', 'label=io.gantry.runner=runner-x1']),
    ).toBe('');
    await compute.close(5_000);
  });

  it('a machine type needing more GPUs than the host has is a scheduling failure naming GANTRY_DOCKER_GPUS', async () => {
    const compute = await open({ gpus: 0 });
    const err = (await compute
      .start(spec(2, revision(12, appImage, ['GPU-A10G'])))
      .catch((e: unknown) => e)) as Error;
    expect(isSchedulingFailure(err)).toBe(true);
    expect(err.message).toContain('GPU-A10G needs 1 GPU(s) and this host has 0 (GANTRY_DOCKER_GPUS)');
    // The next machine type in the list is tried.
    await compute.start(spec(3, revision(13, appImage, ['GPU-A10G', 'CPU'])));
    expect(await running(compute.containers('runner-x3')?.app)).toBe(true);
    await compute.close(10_000);
  });

  it('after a restart, a new driver takes over the runners still running, relays their app output again, and removes what is left of others', async () => {
    // A runner that talks to control, and an app printing numbered lines: which reach control, how often.
    const control = await startFakeControl();
    const ticks = () =>
      control.logs.flatMap((l) => {
        const m = /^tick (\d+)$/.exec(l.message);
        return m ? [Number(m[1])] : [];
      });
    const cut = new SeverableEngine(parseDockerHost(engine.dockerHost));
    const first = await open({ engine: cut });
    await first.start({
      ...spec(4, revision(14, appImage)),
      controlUrl: control.url,
      token: control.token,
      env: { TICK_MS: '200' },
    });
    const live = first.containers('runner-x4')!;
    await control.waitFor(() => ticks().length >= 2, 'app lines relayed by the first driver', 120_000);
    // The first control dies: its relay into the runner's stdin goes with it.
    cut.sever();
    // What a control that died mid-way leaves: an app container whose runner is gone.
    await engine.podman([
      'run',
      '--detach',
      '--network',
      'host',
      '--env',
      'PORT=1',
      '--label',
      'io.gantry.runner=runner-x5',
      '--label',
      'io.gantry.role=app',
      appImage,
    ]);

    const second = await open();
    const exits: RunnerExit[] = [];
    second.onExit((e) => exits.push(e));
    expect(second.containers('runner-x4')).toEqual(live);
    expect(await running(live.app)).toBe(true);
    // The app's lines reach control again, from the adoption on, none of them twice.
    const before = Math.max(...ticks());
    await control.waitFor(
      () => ticks().filter((n) => n > before).length >= 3,
      'app lines relayed by the driver that adopted the runner',
      120_000,
    );
    expect(new Set(ticks()).size).toBe(ticks().length);
    // Nothing of the ended runner is left, app container included.
    expect(
      await engine.podman(['ps', '--all', '--quiet', '--filter', 'label=io.gantry.runner=runner-x5']),
    ).toBe('');
    // The adopted runner is the new driver's to stop, and its end is reported.
    const exited = new Promise<RunnerExit>((resolve) => second.onExit(resolve));
    await second.stop('runner-x4');
    const exit = await exited;
    expect(exit.runnerId).toBe('runner-x4');
    // Drained, it ended well: the app the driver stopped after it is no crash of the app's. Its
    // record is the runner's own lines: the copies it printed of the app's are left out.
    expect(exit.code).toBe(0);
    expect(exit.tail.some((l) => l.includes('info'))).toBe(true);
    expect(exit.tail.filter((l) => l.includes('tick '))).toEqual([]);
    expect(
      await engine.podman(['ps', '--all', '--quiet', '--filter', 'label=io.gantry.runner=runner-x4']),
    ).toBe('');
    await second.close(5_000);
    await control.close();
  });

  it('an app that never becomes healthy ends its runner with a failure that says so', async () => {
    const compute = await open();
    const exited = new Promise<RunnerExit>((resolve) => compute.onExit(resolve));
    await compute.start(spec(7, revision(17, neverHealthyImage, ['CPU'], 2)));
    const exit = await exited;
    expect(exit.runnerId).toBe('runner-x7');
    expect(exit.code).not.toBe(0);
    expect(exit.tail.join('\n')).toContain('did not become healthy within 2 s');
    expect(
      await engine.podman(['ps', '--all', '--quiet', '--filter', 'label=io.gantry.runner=runner-x7']),
    ).toBe('');
    await compute.close(1_000);
  });

  it('without GANTRY_DOCKER_RUNNER_IMAGE it builds the runner image itself, once, and runs it', async () => {
    const compute = await open({ buildRunnerImage: true });
    const built = (await engine.podman(['images', '--format', '{{.Repository}}:{{.Tag}}']))
      .split('\n')
      .filter((t) => t.startsWith('localhost/gantry-runner:'));
    expect(built).toHaveLength(1);
    await compute.start(spec(6, revision(16, appImage)));
    const ids = compute.containers('runner-x6')!;
    expect((await engine.podman(['inspect', '--format', '{{.ImageName}}', ids.runner!])).trim()).toBe(
      built[0],
    );
    // The runner in it is alive and talking: it found the app healthy beside it.
    await eventuallyLogs(ids.runner!, 'app healthy');
    await compute.close(10_000);
    // A second driver finds the image and builds nothing.
    const again = await open({ buildRunnerImage: true });
    expect(
      (await engine.podman(['images', '--format', '{{.Repository}}']))
        .split('\n')
        .filter((t) => t === 'localhost/gantry-runner'),
    ).toHaveLength(1);
    await again.close(1_000);
  }, 300_000);
});

/** Waits (bounded) until a container has printed a line containing `text`. */
async function eventuallyLogs(id: string, text: string): Promise<void> {
  for (let i = 0; i < 300; i++) {
    if ((await engine.logs(id)).includes(text)) return;
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`container ${id} never printed "${text}": ${await engine.logs(id)}`);
}
