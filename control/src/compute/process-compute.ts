/**
 * The local compute driver: each runner is a child process on this machine, and the runner starts
 * the app as its own child. Stop is SIGTERM (the runner drains), kill is SIGKILL.
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import type { Writable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { RUNNER_ENV } from '../../../contract/src/runner-protocol.ts';
import {
  type ComputeDriver,
  type RunnerExit,
  RunnerSchedulingError,
  type RunnerSpec,
} from './compute-driver.ts';

const REPO_ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const RUNNER_MAIN = fileURLToPath(new URL('../../../runner/src/main.ts', import.meta.url));
const TAIL_LINES = 30;

export interface ProcessComputeOptions {
  /** Where the runner's own lines go (prefixed with its id). */
  onLine?: (runnerId: string, line: string) => void;
  /** Seconds the runner may take to finish in-flight work after SIGTERM. */
  drainGraceSeconds?: number;
  /**
   * Most runners alive on this machine at once, across every app and environment: a burst of
   * many apps must not start more processes (and GPU contexts) than the host can hold.
   */
  maxRunners?: number;
  /** The environment runners inherit from (inheritedEnv picks what): control's own by default. */
  controlEnv?: NodeJS.ProcessEnv;
}

/** The runner's descriptor for its secrets: the first after stdin, stdout and stderr. */
const SECRETS_FD = 3;

/** The runner's own line naming its app's process group (runner/src/runner.ts); app output never reaches stderr. */
const APP_GROUP_LINE = /^\[runner \S+\] \S+ info app started pgid=(\d+)$/;

interface Child {
  proc: ChildProcess;
  /** The app's process group, once the runner named it. */
  appGroup?: number;
  tail: string[];
  exited: Promise<void>;
  drainGraceS: number;
}

export class ProcessCompute implements ComputeDriver {
  private readonly children = new Map<string, Child>();
  private readonly listeners: ((e: RunnerExit) => void)[] = [];

  constructor(private readonly opts: ProcessComputeOptions = {}) {}

  async start(spec: RunnerSpec): Promise<void> {
    const rev = spec.revision;
    if (!rev.command || rev.command.length === 0) {
      throw new Error(`revision ${rev.number} has no command; the process driver runs local commands only`);
    }
    const cap = this.opts.maxRunners;
    if (cap !== undefined && this.children.size >= cap) {
      throw new RunnerSchedulingError(
        `this machine already runs ${this.children.size} runners, the most GANTRY_PROCESS_MAX_RUNNERS allows (${cap}); the start is retried when one ends`,
      );
    }
    const { env, secrets } = runnerLaunch(
      spec,
      this.opts.controlEnv ?? process.env,
      this.opts.drainGraceSeconds,
    );
    const proc = spawn(process.execPath, ['--import', 'tsx', RUNNER_MAIN], {
      cwd: REPO_ROOT,
      env: { ...env, [RUNNER_ENV.secretsFd]: String(SECRETS_FD) },
      // Descriptor 3 carries the secrets (RUNNER_ENV.secretsFd), never the environment.
      stdio: ['ignore', 'pipe', 'pipe', 'pipe'],
      // Its own process group, so kill() takes the app down with the runner.
      detached: true,
    });
    const secretsPipe = proc.stdio[SECRETS_FD] as Writable;
    // A runner that dies before reading must not take control down with EPIPE.
    secretsPipe.on('error', () => {});
    secretsPipe.end(JSON.stringify(secrets));
    const child: Child = {
      proc,
      tail: [],
      exited: Promise.resolve(),
      drainGraceS: spec.drainGraceSeconds ?? this.opts.drainGraceSeconds ?? 30,
    };
    const onLine = (line: string) => {
      const group = APP_GROUP_LINE.exec(line);
      if (group) child.appGroup = Number(group[1]);
      child.tail.push(line);
      if (child.tail.length > TAIL_LINES) child.tail.shift();
      this.opts.onLine?.(spec.runnerId, line);
    };
    createInterface({ input: proc.stdout! }).on('line', onLine);
    createInterface({ input: proc.stderr! }).on('line', onLine);
    child.exited = new Promise<void>((resolve) => {
      proc.once('exit', (code, signal) => {
        // A runner killed outright (SIGKILL, the OOM killer) could not stop its app, which runs in
        // a group of its own: stop that group here, or it lives on holding its port and GPU memory.
        if (child.appGroup !== undefined) killGroupOnly(child.appGroup, 'SIGKILL');
        // Let the last lines drain from the pipes before reporting. The child stays listed until
        // its listeners ran, so close() never misses one that is exiting.
        setImmediate(() => {
          for (const l of this.listeners) l({ runnerId: spec.runnerId, code, signal, tail: [...child.tail] });
          this.children.delete(spec.runnerId);
          resolve();
        });
      });
    });
    this.children.set(spec.runnerId, child);
    await new Promise<void>((resolve, reject) => {
      proc.once('spawn', () => resolve());
      proc.once('error', reject);
    });
  }

  async stop(runnerId: string): Promise<void> {
    this.children.get(runnerId)?.proc.kill('SIGTERM');
  }

  async kill(runnerId: string): Promise<void> {
    const c = this.children.get(runnerId);
    if (c) await killTree(c.proc);
  }

  onExit(listener: (exit: RunnerExit) => void): void {
    this.listeners.push(listener);
  }

  /** PIDs of the runners, for tests that need to kill one from outside. */
  pid(runnerId: string): number | undefined {
    return this.children.get(runnerId)?.proc.pid;
  }

  /**
   * Leaves every runner running for another control to adopt: they are detached process groups,
   * and they reach control over HTTP, not through this process. Their exits are no longer reported.
   */
  async release(): Promise<void> {
    for (const c of this.children.values()) {
      c.proc.removeAllListeners('exit');
      c.proc.stdout?.destroy();
      c.proc.stderr?.destroy();
      c.proc.unref();
    }
    this.children.clear();
  }

  /** Drains every runner; those still running after the drain grace (and a margin) are killed. */
  async close(graceMs?: number): Promise<void> {
    const all = [...this.children.values()];
    graceMs ??= (Math.max(this.opts.drainGraceSeconds ?? 30, ...all.map((c) => c.drainGraceS)) + 5) * 1000;
    for (const c of all) c.proc.kill('SIGTERM');
    const timer = setTimeout(() => {
      for (const c of all) void killTree(c.proc);
    }, graceMs);
    await Promise.all(all.map((c) => c.exited));
    clearTimeout(timer);
  }
}

/**
 * How a runner process starts: its environment (what it inherits from control, the app's
 * variables, its settings) and, apart, its secrets (its token, control's AWS settings it polls SQS
 * with), which go on a descriptor of their own: an environment is readable by the app in
 * /proc/<ppid>/environ for the runner's whole life. The runner keeps the secrets from its app.
 */
export function runnerLaunch(
  spec: RunnerSpec,
  controlEnv: NodeJS.ProcessEnv,
  defaultDrainGraceS?: number,
): { env: Record<string, string>; secrets: Record<string, string> } {
  const rev = spec.revision;
  const inherited = inheritedEnv(controlEnv);
  // The revision's own variables are the app's, even when named like AWS settings.
  const secrets: Record<string, string> = { [RUNNER_ENV.token]: spec.token };
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(inherited)) {
    if (k.startsWith('AWS_') && !(k in spec.env)) secrets[k] = v;
    else env[k] = v;
  }
  return {
    env: {
      ...env,
      ...spec.env,
      ...spec.runnerEnv,
      [RUNNER_ENV.controlUrl]: spec.controlUrl,
      [RUNNER_ENV.runnerId]: spec.runnerId,
      [RUNNER_ENV.appCommand]: JSON.stringify(rev.command),
      [RUNNER_ENV.appCwd]: rev.cwd ?? REPO_ROOT,
      [RUNNER_ENV.maxMultiplexing]: String(rev.settings.max_multiplexing),
      [RUNNER_ENV.startupTimeoutS]: String(rev.settings.startup_timeout),
      [RUNNER_ENV.drainGraceS]: String(spec.drainGraceSeconds ?? defaultDrainGraceS ?? 30),
    },
    secrets,
  };
}

/**
 * Kills a runner and its app. The runner starts its app in a process group of the app's own, so
 * that group goes too, or the app would outlive a runner killed without the chance to stop it.
 */
async function killTree(proc: ChildProcess): Promise<void> {
  if (!proc.pid) return;
  for (const pid of await childPids(proc.pid)) killGroup(pid, 'SIGKILL');
  killGroup(proc.pid, 'SIGKILL');
}

/** Signals a whole process group, if there is still one. */
function killGroupOnly(pgid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pgid, signal);
  } catch {
    // The app stopped with its runner, as it should have.
  }
}

function killGroup(pid: number, signal: NodeJS.Signals): void {
  for (const target of [-pid, pid]) {
    try {
      process.kill(target, signal);
      return;
    } catch {
      // Not a group leader, or already gone: try the process itself, then give up quietly.
    }
  }
}

/** Direct children of a process (pgrep ships with every Linux and macOS). */
function childPids(pid: number): Promise<number[]> {
  return new Promise((resolve) => {
    execFile('pgrep', ['-P', String(pid)], (_err, stdout) => {
      resolve(
        String(stdout)
          .split('\n')
          .map((l) => Number(l.trim()))
          .filter((n) => Number.isInteger(n) && n > 0),
      );
    });
  });
}

/**
 * What a runner (and so its app) inherits from control's own environment: what programs need to
 * run on this machine, and the AWS settings a runner needs to poll SQS (which it keeps from its
 * app). Nothing else: control's secrets (the GitHub App's private key, the webhook secret, DATABASE_URL, GANTRY_* settings) must
 * not reach user code. The process driver is still no isolation boundary (same user, same machine).
 */
const INHERITED =
  /^(PATH|HOME|USER|LOGNAME|SHELL|LANG|LANGUAGE|LC_[A-Z]+|TZ|TMPDIR|TEMP|TMP|TERM|SSL_CERT_FILE|SSL_CERT_DIR|NODE_EXTRA_CA_CERTS|HTTPS?_PROXY|NO_PROXY|https?_proxy|no_proxy|CUDA_[A-Z_]+|NVIDIA_[A-Z_]+|AWS_[A-Z_]+)$/;

export function inheritedEnv(env: NodeJS.ProcessEnv): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(env)) if (v !== undefined && INHERITED.test(k)) out[k] = v;
  return out;
}
