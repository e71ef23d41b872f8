/**
 * What the container driver asks the engine to create for one runner: the app container (the
 * revision's image, its port, its GPUs as an NVIDIA device request) and the runner container, which
 * joins the app's network namespace and reaches it on localhost; and the labels by which a control
 * started later finds both again.
 */
import { freeLoopbackPort } from '../../../contract/src/free-port.ts';
import { RUNNER_ENV } from '../../../contract/src/runner-protocol.ts';
import type { RunnerSpec } from './compute-driver.ts';
import type { CreateContainer } from './docker-engine.ts';

export const LABELS = {
  runner: 'io.gantry.runner',
  role: 'io.gantry.role',
  environment: 'io.gantry.environment',
  revision: 'io.gantry.revision',
  gpus: 'io.gantry.gpus',
  /** The runner's app output intake port, on the host's network. */
  outputPort: 'io.gantry.output-port',
} as const;

/** The app's port on a named network, where each runner has an address of its own. */
const NAMED_NETWORK_PORT = 8080;

/** Where one runner goes: its GPUs, and the ports its containers listen on. */
export interface Placement {
  spec: RunnerSpec;
  /** `host`, or the name of an engine network. */
  network: string;
  gpus: string[];
  /** The app's port (PORT). */
  port: number;
  /** The runner's app output intake port; unset on a named network (the output goes to stdin). */
  outputPort: number | undefined;
}

/**
 * Ports for a runner's two containers: on the host's network each app (and each runner's intake)
 * needs a port nobody else listens on; on a named network the app has its own address.
 */
export async function placePorts(network: string): Promise<Pick<Placement, 'port' | 'outputPort'>> {
  if (network !== 'host') return { port: NAMED_NETWORK_PORT, outputPort: undefined };
  const port = await freePort();
  return { port, outputPort: await freePort(port) };
}

/** Engine container names allow letters, digits, `_`, `.` and `-`. */
export function containerName(runnerId: string): string {
  return `gantry-${runnerId.replace(/[^A-Za-z0-9_.-]/g, '-')}`;
}

function labels(p: Placement, role: 'app' | 'runner'): Record<string, string> {
  const rev = p.spec.revision;
  return {
    [LABELS.runner]: p.spec.runnerId,
    [LABELS.environment]: p.spec.environmentId,
    [LABELS.revision]: String(rev.number),
    [LABELS.gpus]: p.gpus.join(','),
    ...(p.outputPort ? { [LABELS.outputPort]: String(p.outputPort) } : {}),
    [LABELS.role]: role,
  };
}

export function appContainer(p: Placement, image: string): CreateContainer {
  return {
    Image: image,
    Env: envList({ ...p.spec.env, PORT: String(p.port) }),
    Labels: labels(p, 'app'),
    HostConfig: {
      NetworkMode: p.network,
      ...(p.gpus.length > 0
        ? { DeviceRequests: [{ Driver: 'nvidia', DeviceIDs: p.gpus, Capabilities: [['gpu']] }] }
        : {}),
    },
  };
}

export function runnerContainer(
  p: Placement,
  o: { image: string; appId: string; drainGraceSeconds: number },
): CreateContainer {
  const { spec, port, outputPort } = p;
  const settings = spec.revision.settings;
  return {
    Image: o.image,
    Env: envList({
      ...spec.runnerEnv,
      [RUNNER_ENV.controlUrl]: spec.controlUrl,
      [RUNNER_ENV.runnerId]: spec.runnerId,
      [RUNNER_ENV.token]: spec.token,
      [RUNNER_ENV.appPort]: String(port),
      ...(outputPort
        ? { [RUNNER_ENV.appOutput]: 'http', [RUNNER_ENV.appOutputPort]: String(outputPort) }
        : { [RUNNER_ENV.appOutput]: 'stdin' }),
      [RUNNER_ENV.maxMultiplexing]: String(settings.max_multiplexing),
      [RUNNER_ENV.startupTimeoutS]: String(settings.startup_timeout),
      [RUNNER_ENV.drainGraceS]: String(o.drainGraceSeconds),
    }),
    Labels: labels(p, 'runner'),
    ...(outputPort ? {} : { OpenStdin: true, StdinOnce: false, AttachStdin: true }),
    HostConfig: { NetworkMode: `container:${o.appId}` },
  };
}

function envList(env: Record<string, string>): string[] {
  return Object.entries(env).map(([k, v]) => `${k}=${v}`);
}

/** A port nobody on the host listens on (other than `not`). */
async function freePort(not?: number): Promise<number> {
  for (;;) {
    const port = await freeLoopbackPort();
    if (port !== not) return port;
  }
}
