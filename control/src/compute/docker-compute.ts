/**
 * The container compute driver (GANTRY_COMPUTE=docker): one machine's container engine (Docker, or
 * podman's API service), found through DOCKER_HOST. Each runner is two containers sharing one network
 * namespace: the app (the revision's image, pulled by digest, with its GPUs) and the runner beside it
 * (GANTRY_DOCKER_RUNNER_IMAGE, or one the driver builds itself), which reaches the app on localhost
 * and control over HTTP.
 *
 * Networking: by default both use the host's network (`GANTRY_DOCKER_NETWORK=host`), so runners reach
 * a control listening on 127.0.0.1 with no setup; each app then gets a port of its own (PORT). On a
 * named network, the app listens on 8080 and GANTRY_CONTROL_URL must name an address runners reach.
 *
 * GPUs: a machine type's GPU count becomes an NVIDIA device request for that many GPUs, by index, so
 * runners are packed onto the GANTRY_DOCKER_GPUS GPUs the host has and never share one (gpu-pool.ts).
 * What each container is created with, and its labels: container-specs.ts.
 *
 * Logs: the app's output is followed through the engine and relayed to the runner, so the runner
 * ships and attributes it exactly as for an app it started (container-output.ts).
 *
 * Restarts: every container carries labels naming its runner; a new driver lists them, watches the
 * runners still running (control tells them to drain) and removes whatever is left of the others.
 * It relays an adopted runner's app output again from the moment of adoption on (posting to its
 * intake, or attaching to its stdin, which Docker keeps open but podman closes when the earlier
 * control's session ended); what the app printed while no control ran is in the engine's logs only.
 */
import { homedir } from 'node:os';
import path from 'node:path';
import type { Config } from '../config.ts';
import type { Revision } from '../domain.ts';
import {
  type ComputeDriver,
  type RunnerExit,
  RunnerSchedulingError,
  type RunnerSpec,
} from './compute-driver.ts';
import { followOutputs, type Outputs, openRelay, reopenRelay, tails } from './container-output.ts';
import { appContainer, containerName, LABELS, placePorts, runnerContainer } from './container-specs.ts';
import { DockerEngine, EngineError, parseDockerHost } from './docker-engine.ts';
import { GpuPool } from './gpu-pool.ts';
import { RegistryAuth } from './registry-auth.ts';
import { provideRunnerImage } from './runner-image.ts';

/** Seconds past the drain grace a drained runner gets to report before the engine kills it. */
const STOP_MARGIN_S = 15;

export interface DockerComputeOptions {
  engine: DockerEngine;
  /** Where DOCKER_HOST pointed, for messages. */
  engineAddress: string;
  /** Unset: built on this machine from its Node.js and the bundled runner (runner-image.ts). */
  runnerImage?: string;
  /** GPUs this host has (indices 0..gpus-1). */
  gpus: number;
  /** `host`, or the name of an engine network. */
  network: string;
  auth?: RegistryAuth;
  drainGraceSeconds?: number;
  /** The runner's own output lines (prefixed with its id by the caller). */
  onLine?: (runnerId: string, line: string) => void;
  log?: (msg: string, fields?: Record<string, unknown>) => void;
}

interface Tracked extends Outputs {
  gpus: string[];
  /** Set when the app ended while the runner still ran. */
  appExit?: number;
  /** The runner ended first: the app's end that follows is the driver's doing, not a crash. */
  runnerEnded?: boolean;
  stopping?: boolean;
  ended: Promise<void>;
}

export class DockerCompute implements ComputeDriver {
  private readonly runners = new Map<string, Tracked>();
  private readonly listeners: ((e: RunnerExit) => void)[] = [];
  private readonly pulls = new Map<string, Promise<void>>();
  private readonly gpus: GpuPool;

  private constructor(
    private readonly o: DockerComputeOptions,
    private readonly runnerImage: string,
  ) {
    this.gpus = new GpuPool(o.gpus);
  }

  /**
   * Connects to the engine (an error naming DOCKER_HOST when nothing answers) and takes over the
   * containers an earlier control left behind.
   */
  static async connect(o: DockerComputeOptions): Promise<DockerCompute> {
    try {
      await o.engine.ping();
    } catch (err) {
      throw new Error(
        `GANTRY_COMPUTE=docker: no container engine answers at ${o.engineAddress} (DOCKER_HOST): ${(err as Error).message}. ` +
          'Start Docker (or `podman system service`), or point DOCKER_HOST at its socket.',
      );
    }
    const runnerImage = o.runnerImage ?? (await provideRunnerImage(o.engine, o.log));
    const driver = new DockerCompute(o, runnerImage);
    await driver.adopt();
    return driver;
  }

  async start(spec: RunnerSpec): Promise<void> {
    const rev = spec.revision;
    if (!rev.image) {
      throw new Error(
        `revision ${rev.number} has no image; the docker driver runs container images only (deploy an image, or use GANTRY_COMPUTE=process for local commands)`,
      );
    }
    const gpus = this.gpus.place(rev.settings);
    const t: Tracked = {
      runnerId: spec.runnerId,
      appId: undefined,
      runnerCid: undefined,
      gpus,
      appTail: [],
      runnerTail: [],
      ended: Promise.resolve(),
    };
    try {
      await Promise.all([this.ensureImage(rev.image), this.ensureImage(this.runnerImage)]);
      const placement = { spec, network: this.o.network, gpus, ...(await placePorts(this.o.network)) };
      const name = containerName(spec.runnerId);
      t.appId = await this.o.engine.create(`${name}-app`, appContainer(placement, rev.image));
      // Started before the runner exists: the runner joins its network namespace, which must be up.
      try {
        await this.o.engine.start(t.appId);
      } catch (err) {
        // The engine could not give the app its GPUs (no NVIDIA runtime, a device gone): the host's
        // doing, not the app's, so not a crash to back off from.
        if (gpus.length > 0 && err instanceof EngineError && /device|nvidia|gpu|cdi/i.test(err.message)) {
          throw new RunnerSchedulingError(
            `the engine could not give the app ${gpus.length} GPU(s): ${err.message}`,
          );
        }
        throw err;
      }
      t.runnerCid = await this.o.engine.create(
        `${name}-runner`,
        runnerContainer(placement, {
          image: this.runnerImage,
          appId: t.appId,
          drainGraceSeconds: this.o.drainGraceSeconds ?? 30,
        }),
      );
      t.relay = await openRelay(this.o.engine, t.runnerCid, placement.outputPort);
      await this.o.engine.start(t.runnerCid);
    } catch (err) {
      this.gpus.release(gpus);
      t.relay?.close();
      await this.removeBoth(t.runnerCid, t.appId).catch(() => {});
      throw err;
    }
    this.runners.set(spec.runnerId, t);
    this.watch(t);
  }

  room(settings: Revision['settings']): number | undefined {
    return this.gpus.room(settings);
  }

  /** Pulls an image unless the engine has it; one pull per image at a time. */
  private ensureImage(ref: string): Promise<void> {
    const running = this.pulls.get(ref);
    if (running) return running;
    const p = (async () => {
      if (await this.o.engine.hasImage(ref)) return;
      try {
        await this.o.engine.pull(ref, this.o.auth?.header(ref));
      } catch (err) {
        if (!(err instanceof EngineError)) throw err;
        throw new RunnerSchedulingError(`image ${ref} cannot be pulled: ${err.message}`);
      }
    })().finally(() => this.pulls.delete(ref));
    this.pulls.set(ref, p);
    return p;
  }

  /**
   * Follows both containers until the runner ends, then removes them and reports the end. With
   * `sinceMs` (an adopted runner), only their output from then on: what came before was relayed,
   * and printed, by the control that started them.
   */
  private watch(t: Tracked, sinceMs?: number): void {
    const { engine } = this.o;
    const appId = t.appId;
    const runnerCid = t.runnerCid!;
    const outputs = followOutputs(engine, t, this.o.onLine, sinceMs);
    if (appId) {
      void engine
        .wait(appId)
        .then(async (code) => {
          if (!this.runners.has(t.runnerId) || t.runnerEnded) return;
          // The app died under the runner: in-flight requests fail and are retried by fal's rules;
          // the runner goes too (it cannot serve), and the end is recorded with the app's code.
          t.appExit = code === 0 ? 1 : code;
          await engine.kill(runnerCid, 'SIGTERM');
        })
        .catch(() => {});
    }
    t.ended = engine
      .wait(runnerCid)
      .catch((err: Error) => {
        this.o.log?.('waiting for a runner container failed; treating it as ended', {
          runner: t.runnerId,
          error: err.message,
        });
        return 1;
      })
      .then(async (code) => {
        t.runnerEnded = true;
        if (appId) await engine.kill(appId, 'SIGKILL').catch(() => {});
        // The output streams end with their containers; their last lines make the record.
        await Promise.race([outputs, sleep(2_000)]);
        t.relay?.close();
        await this.removeBoth(runnerCid, appId).catch((err) =>
          this.o.log?.('removing runner containers failed', { runner: t.runnerId, error: String(err) }),
        );
        this.gpus.release(t.gpus);
        this.runners.delete(t.runnerId);
        const exit: RunnerExit = {
          runnerId: t.runnerId,
          code: t.appExit ?? code,
          signal: null,
          tail: t.appExit !== undefined ? [...t.runnerTail.slice(-10), ...t.appTail] : [...t.runnerTail],
        };
        for (const l of this.listeners) l(exit);
      });
  }

  /** Finds the containers of an earlier control: watches live runners, removes the rest. */
  private async adopt(): Promise<void> {
    const found = await this.o.engine.list(LABELS.runner);
    const byRunner = new Map<string, { app?: (typeof found)[number]; runner?: (typeof found)[number] }>();
    for (const c of found) {
      const id = c.Labels[LABELS.runner];
      if (!id) continue;
      const entry = byRunner.get(id) ?? {};
      if (c.Labels[LABELS.role] === 'app') entry.app = c;
      else entry.runner = c;
      byRunner.set(id, entry);
    }
    for (const [runnerId, { app, runner }] of byRunner) {
      if (runner?.State === 'running') {
        const gpus = (runner.Labels[LABELS.gpus] ?? '').split(',').filter(Boolean);
        this.gpus.take(gpus);
        // The tails first, then only what comes after: nothing is relayed or printed twice.
        const { appTail, runnerTail } = await tails(this.o.engine, app?.Id, runner.Id);
        const since = Date.now();
        const t: Tracked = {
          runnerId,
          appId: app?.Id,
          runnerCid: runner.Id,
          gpus,
          appTail,
          runnerTail,
          ended: Promise.resolve(),
        };
        const relay = await reopenRelay(
          this.o.engine,
          runnerId,
          runner.Id,
          Number(runner.Labels[LABELS.outputPort]),
          this.o.log,
        );
        if (relay) t.relay = relay;
        this.runners.set(runnerId, t);
        this.watch(t, since);
        this.o.log?.('adopted a running runner container', { runner: runnerId });
      } else {
        await this.removeBoth(runner?.Id, app?.Id);
        this.o.log?.('removed the containers of an ended runner', { runner: runnerId });
      }
    }
  }

  /** The runner's container first: it joined the app's network namespace, so it depends on it. */
  private async removeBoth(runnerCid: string | undefined, appId: string | undefined): Promise<void> {
    if (runnerCid) await this.o.engine.remove(runnerCid);
    if (appId) await this.o.engine.remove(appId);
  }

  async stop(runnerId: string): Promise<void> {
    const t = this.runners.get(runnerId);
    if (!t?.runnerCid || t.stopping) return;
    t.stopping = true;
    // SIGTERM: the runner stops pulling, finishes its in-flight work within the drain grace, reports
    // and exits. The engine kills it if it is still there well after that (control unreachable).
    const backstopS = (this.o.drainGraceSeconds ?? 30) + STOP_MARGIN_S;
    void this.o.engine
      .stop(t.runnerCid, backstopS)
      .catch((err) =>
        this.o.log?.('stopping a runner container failed', { runner: runnerId, error: String(err) }),
      );
  }

  async kill(runnerId: string): Promise<void> {
    const t = this.runners.get(runnerId);
    if (!t) return;
    await Promise.all(
      [t.runnerCid, t.appId].map((id) => (id ? this.o.engine.kill(id, 'SIGKILL') : undefined)),
    );
  }

  onExit(listener: (exit: RunnerExit) => void): void {
    this.listeners.push(listener);
  }

  /** Container ids of a runner, for tests that act on them from outside. */
  containers(runnerId: string): { app?: string; runner?: string } | undefined {
    const t = this.runners.get(runnerId);
    if (!t) return undefined;
    return { ...(t.appId ? { app: t.appId } : {}), ...(t.runnerCid ? { runner: t.runnerCid } : {}) };
  }

  /** Drains every runner; those still running after the drain grace (and a margin) are killed. */
  async close(graceMs = ((this.o.drainGraceSeconds ?? 30) + 5) * 1000): Promise<void> {
    const all = [...this.runners.values()];
    await Promise.all(all.map((t) => this.stop(t.runnerId).catch(() => {})));
    const timer = setTimeout(() => {
      for (const t of all) void this.kill(t.runnerId).catch(() => {});
    }, graceMs);
    await Promise.all(all.map((t) => t.ended));
    clearTimeout(timer);
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms).unref());
}

/** The driver as control's configuration describes it. */
export function openDockerCompute(
  config: Pick<Config, 'dockerHost' | 'dockerConfig' | 'dockerRunnerImage' | 'dockerGpus' | 'dockerNetwork'>,
  extra: Pick<DockerComputeOptions, 'drainGraceSeconds' | 'onLine' | 'log'> = {},
): Promise<DockerCompute> {
  return (async () => {
    const auth = await RegistryAuth.load(
      path.join(config.dockerConfig ?? path.join(homedir(), '.docker'), 'config.json'),
    );
    return DockerCompute.connect({
      engine: new DockerEngine(parseDockerHost(config.dockerHost)),
      engineAddress: config.dockerHost,
      ...(config.dockerRunnerImage ? { runnerImage: config.dockerRunnerImage } : {}),
      gpus: config.dockerGpus,
      network: config.dockerNetwork,
      auth,
      ...extra,
    });
  })();
}
