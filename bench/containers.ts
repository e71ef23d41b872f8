/**
 * The container driver's figures: examples/hello built as an image (Node 24 base, buildah), pushed to
 * a loopback registry, served by control with GANTRY_COMPUTE=docker against podman's Docker API.
 *
 *   first request   0 runners and the image not yet on the engine: pull by digest + start + result
 *   cold start      0 runners, image already pulled: request → result (goal < 1.5 s)
 *   warm            N requests one after another through Gantry (POST /run) against the same app
 *                   container called directly; the difference is the driver's overhead, to compare
 *                   with the process driver's
 */
import { pushNodeBase } from '../test/support/base-image.ts';
import { eventually, startTestControl } from '../test/support/control.ts';
import { buildGantryImage, buildRepoImage, pushImage } from '../test/support/gantry-images.ts';
import { startTestRegistry } from '../test/support/oci-registry.ts';
import { startTestEngine } from '../test/support/podman.ts';

export interface ContainerFigures {
  first_request_with_pull_ms: number;
  cold_start_ms: number[];
  warm: { n: number; gantry_p50_ms: number; direct_p50_ms: number; overhead_p50_ms: number };
}

const p50 = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const round = (n: number) => Math.round(n * 100) / 100;

async function timed(call: () => Promise<Response>): Promise<number> {
  const t = performance.now();
  const res = await call();
  const body = await res.text();
  if (!res.ok) throw new Error(`HTTP ${res.status}: ${body.slice(0, 300)}`);
  return performance.now() - t;
}

export async function containerFigures(o: { cold: number; n: number }): Promise<ContainerFigures> {
  const registry = await startTestRegistry();
  const engine = await startTestEngine({ insecureRegistries: [registry.host] });
  try {
    const base = await pushNodeBase(registry.host);
    const runner = await buildGantryImage({
      component: 'runner',
      baseImage: base,
      tag: 'localhost/gantry/runner:bench',
      env: engine.env,
    });
    // hello, built apart from the engine's storage so the first request really pulls it.
    const tag = `${registry.host}/bench/hello:1`;
    await buildRepoImage({
      containerfile: 'examples/hello/Containerfile',
      baseImage: base,
      tag,
      env: engine.env,
    });
    const image = await pushImage(tag, engine.env);
    await engine.podman(['rmi', '--force', tag]);

    const control = await startTestControl({
      env: {
        GANTRY_COMPUTE: 'docker',
        DOCKER_HOST: engine.dockerHost,
        GANTRY_DOCKER_RUNNER_IMAGE: runner.tag,
      },
    });
    try {
      const ok = async (r: Promise<Response>) => {
        const res = await r;
        if (!res.ok) throw new Error(`${res.status} ${await res.text()}`);
      };
      await ok(control.admin('/v1/apps', { body: { owner: 'bench', name: 'hello', auth_mode: 'public' } }));
      await ok(
        control.admin('/v1/apps/bench/hello/environments/production/scaling', {
          method: 'PATCH',
          body: { keep_alive: 1, max_concurrency: 1 },
        }),
      );
      await ok(
        control.admin('/v1/apps/bench/hello/environments/production/revisions', {
          body: { image, settings: { max_multiplexing: 16 }, activate: true, strategy: 'recreate' },
        }),
      );
      const json = { 'content-type': 'application/json' };
      const body = JSON.stringify({ name: 'Ada' });
      const run = () => fetch(`${control.url}/run/bench/hello`, { method: 'POST', body, headers: json });
      const live = async () => {
        const res = await control.admin('/v1/apps/bench/hello/environments/production/runners');
        const { runners } = (await res.json()) as { runners: { state: string }[] };
        return runners.filter((r) => !['TERMINATED', 'CRASH_BACKOFF'].includes(r.state)).length;
      };
      const zero = () =>
        eventually(async () => ((await live()) === 0 ? true : undefined), 120_000, 'scale to zero');

      const first = await timed(run);
      const cold: number[] = [];
      for (let i = 0; i < o.cold; i++) {
        await zero();
        cold.push(await timed(run));
      }

      await ok(
        control.admin('/v1/apps/bench/hello/environments/production/scaling', {
          method: 'PATCH',
          body: { keep_alive: 300, min_concurrency: 1 },
        }),
      );
      await timed(run);
      // The app container's own port (host network): the same app, called without Gantry.
      const ids = (await engine.podman(['ps', '--quiet', '--filter', 'label=io.gantry.role=app']))
        .trim()
        .split('\n');
      const env = JSON.parse(
        await engine.podman(['inspect', '--format', '{{json .Config.Env}}', ids[0]!]),
      ) as string[];
      const port = env.find((e) => e.startsWith('PORT='))!.slice(5);
      const direct = () => fetch(`http://127.0.0.1:${port}/`, { method: 'POST', body, headers: json });
      for (let i = 0; i < 20; i++) {
        await timed(run);
        await timed(direct);
      }
      const g: number[] = [];
      const d: number[] = [];
      for (let i = 0; i < o.n; i++) {
        g.push(await timed(run));
        d.push(await timed(direct));
      }
      return {
        first_request_with_pull_ms: round(first),
        cold_start_ms: cold.map(round),
        warm: {
          n: o.n,
          gantry_p50_ms: round(p50(g)),
          direct_p50_ms: round(p50(d)),
          overhead_p50_ms: round(p50(g) - p50(d)),
        },
      };
    } finally {
      await control.close();
    }
  } finally {
    await engine.close();
    await registry.close();
  }
}

export function printContainerFigures(f: ContainerFigures): void {
  console.log('\ncontainers (GANTRY_COMPUTE=docker on podman, examples/hello image on a Node 24 base)');
  console.log(`  first request, image pulled by digest first: ${f.first_request_with_pull_ms} ms`);
  console.log(
    `  cold start (image on the engine): ${f.cold_start_ms.join(' ms, ')} ms; median ${round(p50(f.cold_start_ms))} ms (goal < 1500)`,
  );
  console.log(
    `  warm, ${f.warm.n} sequential: through Gantry p50 ${f.warm.gantry_p50_ms} ms, direct p50 ${f.warm.direct_p50_ms} ms, overhead p50 ${f.warm.overhead_p50_ms} ms`,
  );
}
