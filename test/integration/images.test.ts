/**
 * Gantry's two images, built from their Containerfiles on the offline Node 24 base and started in a
 * real container engine (podman's Docker API service): the runner image (the bundled runner, no
 * repository inside) and the control image (configured only by environment, non-root, `/healthz`
 * for load balancers).
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pushNodeBase } from '../support/base-image.ts';
import { freePort } from '../support/free-port.ts';
import { buildGantryImage } from '../support/gantry-images.ts';
import { startTestRegistry, type TestRegistry } from '../support/oci-registry.ts';
import { startTestEngine, type TestEngine } from '../support/podman.ts';

describe("Gantry's images", () => {
  let registry: TestRegistry;
  let engine: TestEngine;
  let baseImage: string;

  beforeAll(async () => {
    registry = await startTestRegistry();
    engine = await startTestEngine({ insecureRegistries: [registry.host] });
    baseImage = await pushNodeBase(registry.host);
  }, 240_000);

  afterAll(async () => {
    await engine?.close();
    await registry?.close();
  });

  /** Waits for a container to exit; returns its exit code and output. */
  async function exitOf(name: string): Promise<{ code: number; output: string }> {
    const code = Number((await engine.podman(['wait', name])).trim());
    const output = await engine.logs(name).catch((e: Error) => e.message);
    return { code, output };
  }

  it('the runner image runs the bundled runner as uid 1000 and names every missing setting', async () => {
    const { tag } = await buildGantryImage({
      component: 'runner',
      baseImage,
      tag: `${registry.host}/gantry/runner:test`,
      env: engine.env,
    });
    const user = (await engine.podman(['image', 'inspect', '--format', '{{.Config.User}}', tag])).trim();
    expect(user).toBe('1000:1000');
    // Started with nothing set, it says what it needs and exits 2, as it does from the repository.
    await engine.podman(['run', '--name', 'runner-alone', '--network', 'host', tag]).catch(() => {});
    const { code, output } = await exitOf('runner-alone');
    expect(code).toBe(2);
    expect(output).toContain('GANTRY_CONTROL_URL is required');
    expect(output).toContain('GANTRY_RUNNER_TOKEN is required');
  }, 240_000);

  it('the control image serves /healthz as uid 1000, configured by environment alone, and stops cleanly', async () => {
    const { tag } = await buildGantryImage({
      component: 'control',
      baseImage,
      tag: `${registry.host}/gantry/control:test`,
      env: engine.env,
    });
    const port = await freePort();
    await engine.podman([
      'run',
      '--detach',
      '--name',
      'control',
      '--network',
      'host',
      '--env',
      `PORT=${port}`,
      '--env',
      'GANTRY_ADMIN_KEY=gk_image_test',
      tag,
    ]);
    const url = `http://127.0.0.1:${port}`;
    let health: Response | undefined;
    // Bounded: the embedded database takes seconds to create on a busy machine.
    for (let i = 0; i < 600 && !health?.ok; i++) {
      health = await fetch(`${url}/healthz`).catch(() => undefined);
      if (!health?.ok) {
        const state = (await engine.podman(['inspect', '--format', '{{.State.Status}}', 'control'])).trim();
        if (state === 'exited') throw new Error(`control exited: ${await engine.logs('control')}`);
        await sleep(200);
      }
    }
    expect(health?.status).toBe(200);
    // The admin key came from the environment: the management API accepts it.
    const apps = await fetch(`${url}/v1/apps`, { headers: { authorization: 'Key gk_image_test' } });
    expect(apps.status).toBe(200);
    // Its processes run as uid 1000, which the base image names `node`; never as root.
    const users = (await engine.podman(['top', 'control', 'user']))
      .split('\n')
      .slice(1)
      .map((l) => l.trim())
      .filter(Boolean);
    expect(users.length).toBeGreaterThan(0);
    expect(
      users.every((u) => u === '1000' || u === 'node'),
      users.join(','),
    ).toBe(true);

    await engine.podman(['stop', '--time', '30', 'control']);
    expect(await exitOf('control')).toMatchObject({ code: 0 });
  }, 300_000);

  it('the control image refuses a bad setting, naming it', async () => {
    const tag = `${registry.host}/gantry/control:test`;
    await engine
      .podman(['run', '--name', 'control-bad', '--network', 'host', '--env', 'GANTRY_QUEUE=kafka', tag])
      .catch(() => {});
    const { code, output } = await exitOf('control-bad');
    expect(code).toBe(2);
    expect(output).toContain('GANTRY_QUEUE must be one of embedded, sqs, got "kafka"');
  }, 120_000);
});
