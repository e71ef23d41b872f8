/**
 * A real container engine for tests: podman's Docker Engine API service (`podman system service`)
 * on a unix socket in a temporary folder, with a configuration and storage of its own so tests on
 * one machine never see each other's containers or images, and never the system's.
 *
 * What this machine needs (and what the configuration says): runc, because crun refuses hybrid
 * cgroups; cgroupfs rather than systemd; vfs storage (works in any sandbox); explicit ulimits, since
 * with nproc at the hard limit setrlimit fails inside containers. Registries on loopback speak plain
 * HTTP: name them in `insecureRegistries`.
 *
 * Drivers talk to `dockerHost` (unix://…), as they would to Docker; `podman(args)` runs the podman
 * CLI against the same storage, for a test that wants to look or act from outside.
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';

const exec = promisify(execFile);

export interface TestEngine {
  /** `unix:///…/podman.sock`: what DOCKER_HOST is set to. */
  dockerHost: string;
  socketPath: string;
  /** CONTAINERS_* variables that point podman, buildah and skopeo at this engine's storage. */
  env: Record<string, string>;
  /** Runs the podman CLI on this engine's storage; rejects with its stderr on failure. */
  podman(args: string[]): Promise<string>;
  /** A container's output so far, both streams. */
  logs(container: string): Promise<string>;
  close(): Promise<void>;
}

export interface TestEngineOptions {
  /** `host:port` of registries reached over plain HTTP (the loopback test registry). */
  insecureRegistries?: string[];
}

/** Writes the three configuration files podman reads; returns the variables naming them. */
export async function writeEngineConfig(
  dir: string,
  opts: TestEngineOptions = {},
): Promise<Record<string, string>> {
  await mkdir(path.join(dir, 'tmp'), { recursive: true });
  const containersConf = path.join(dir, 'containers.conf');
  await writeFile(
    containersConf,
    [
      '[containers]',
      'default_ulimits = ["nofile=20000:20000", "nproc=1000:1000"]',
      '[engine]',
      'cgroup_manager = "cgroupfs"',
      'runtime = "runc"',
      'events_logger = "file"',
      `events_logfile_path = "${dir}/events.log"`,
      `tmp_dir = "${dir}/tmp"`,
      '',
    ].join('\n'),
  );
  const storageConf = path.join(dir, 'storage.conf');
  await writeFile(
    storageConf,
    `[storage]\ndriver = "vfs"\nrunroot = "${dir}/run"\ngraphroot = "${dir}/graph"\n`,
  );
  const registriesConf = path.join(dir, 'registries.conf');
  await writeFile(
    registriesConf,
    [
      'unqualified-search-registries = []',
      ...(opts.insecureRegistries ?? []).flatMap((r) => [
        '[[registry]]',
        `location = "${r}"`,
        'insecure = true',
      ]),
      '',
    ].join('\n'),
  );
  return {
    CONTAINERS_CONF: containersConf,
    CONTAINERS_STORAGE_CONF: storageConf,
    CONTAINERS_REGISTRIES_CONF: registriesConf,
  };
}

export async function startTestEngine(opts: TestEngineOptions = {}): Promise<TestEngine> {
  const dir = await mkdtemp(path.join(tmpdir(), 'gantry-engine-'));
  const env = await writeEngineConfig(dir, opts);
  const socketPath = path.join(dir, 'podman.sock');
  const dockerHost = `unix://${socketPath}`;
  const child: ChildProcess = spawn('podman', ['system', 'service', '--time=0', dockerHost], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr?.on('data', (c: Buffer) => {
    stderr = (stderr + c.toString()).slice(-4000);
  });
  let spawnError: Error | undefined;
  child.on('error', (err) => {
    spawnError = new Error(`podman cannot start (${err.message}): install it (.ci/install-test-tools does)`);
  });
  const exited = new Promise<void>((resolve) => child.on('exit', () => resolve()));

  const deadline = Date.now() + 30_000;
  for (;;) {
    if (spawnError) throw spawnError;
    if (child.exitCode !== null) throw new Error(`podman system service exited: ${stderr}`);
    if (await ping(socketPath)) break;
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`podman's API did not answer on ${socketPath}: ${stderr}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }

  const podman = async (args: string[]): Promise<string> => {
    try {
      const { stdout } = await exec('podman', args, { env: { ...process.env, ...env }, maxBuffer: 16 << 20 });
      return stdout;
    } catch (err) {
      const e = err as { stderr?: string; message: string };
      throw new Error(`podman ${args.join(' ')}: ${e.stderr?.trim() || e.message}`);
    }
  };

  const logs = async (container: string): Promise<string> => {
    const { stdout, stderr } = await exec('podman', ['logs', container], {
      env: { ...process.env, ...env },
      maxBuffer: 16 << 20,
    });
    return stdout + stderr;
  };

  return {
    dockerHost,
    socketPath,
    env,
    podman,
    logs,
    async close() {
      // Containers first: their processes would otherwise outlive the test.
      await podman(['rm', '--all', '--force', '--time', '0']).catch(() => {});
      if (child.exitCode === null) {
        child.kill('SIGTERM');
        await exited;
      }
      // conmon runs `podman container cleanup` after each container exits, which may touch the
      // storage moments after the service is gone: remove until it stays removed (bounded).
      for (let i = 0; i < 50; i++) {
        const done = await rm(dir, { recursive: true, force: true }).then(
          () => true,
          () => false,
        );
        if (done) break;
        await new Promise((r) => setTimeout(r, 200));
      }
    },
  };
}

function ping(socketPath: string): Promise<boolean> {
  return new Promise((resolve) => {
    const req = request({ socketPath, path: '/_ping', method: 'GET', timeout: 2000 }, (res) => {
      res.resume();
      resolve(res.statusCode === 200);
    });
    req.on('error', () => resolve(false));
    req.on('timeout', () => req.destroy());
    req.end();
  });
}
