/**
 * The app the runner serves: starts its process (or finds it beside the runner, ECS sidecar), waits
 * for `GET /health` to answer 200, watches for it dying, and stops it.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { sleep } from './retry.ts';

export interface AppExit {
  code: number | null;
  signal: NodeJS.Signals | null;
  /** Set when the process could not be started at all (e.g. the command does not exist). */
  spawnError?: string;
}

/** The app did not become healthy; the message says why and ends with its last lines of output. */
export class AppStartError extends Error {
  override readonly name = 'AppStartError';
}

export type OutputStream = 'stdout' | 'stderr';

export interface AppProcessOptions {
  /** argv; undefined when the app runs beside the runner and only its health is awaited. */
  command: string[] | undefined;
  cwd: string;
  env: Record<string, string>;
  port: number;
  startupTimeoutMs: number;
  /** Called for every line the app prints, in order per stream. */
  onLine: (line: string, stream: OutputStream) => void;
  healthIntervalMs?: number;
  fetch?: typeof globalThis.fetch;
}

const TAIL_LINES = 20;

export class AppProcess {
  readonly baseUrl: string;
  /** Resolves when the app process exits; never, for an app beside the runner. */
  readonly exited: Promise<AppExit>;
  private exit: AppExit | undefined;
  private child: ChildProcess | undefined;
  private outputClosed: Promise<void> = Promise.resolve();
  private readonly tail: string[] = [];
  private readonly fetchImpl: typeof globalThis.fetch;
  private resolveExited: (exit: AppExit) => void = () => {};

  constructor(private readonly options: AppProcessOptions) {
    this.baseUrl = `http://127.0.0.1:${options.port}`;
    this.fetchImpl = options.fetch ?? globalThis.fetch;
    this.exited = new Promise((resolve) => {
      this.resolveExited = resolve;
    });
  }

  /** Starts the app and resolves once it is healthy; rejects with AppStartError otherwise. */
  async start(): Promise<void> {
    const { command } = this.options;
    if (command) this.spawn(command);
    const deadline = Date.now() + this.options.startupTimeoutMs;
    const interval = this.options.healthIntervalMs ?? 50;
    let lastHealth = 'no answer yet';
    for (;;) {
      if (this.exit)
        throw await this.startError(`the app ${describeExit(this.exit)} before it became healthy`);
      const remaining = deadline - Date.now();
      if (remaining <= 0) {
        throw await this.startError(
          `the app did not become healthy within ${this.options.startupTimeoutMs / 1000} s ` +
            `(last health check: ${lastHealth})`,
        );
      }
      // The last check before the deadline gets only the time left: if that cuts it short, its
      // timeout says nothing about the app, and the answer before it is the one worth reporting.
      const cutShort = remaining < 2_000;
      try {
        const response = await this.fetchImpl(`${this.baseUrl}/health`, {
          signal: AbortSignal.timeout(Math.min(remaining, 2_000)),
        });
        const body = await response.text();
        if (response.status === 200) return;
        lastHealth = `${response.status} ${body.slice(0, 200)}`;
      } catch (err) {
        const timedOut = err instanceof Error && err.name === 'TimeoutError';
        if (!(cutShort && timedOut && lastHealth !== 'no answer yet')) lastHealth = describeFetchError(err);
      }
      await Promise.race([sleep(Math.min(interval, Math.max(0, deadline - Date.now()))), this.exited]);
    }
  }

  /** The app's exit, if it has exited; waits up to `ms` for it, since a reset socket can beat the exit event. */
  async exitWithin(ms: number): Promise<AppExit | undefined> {
    if (this.exit || !this.child) return this.exit;
    return Promise.race([this.exited, sleep(ms).then(() => this.exit)]);
  }

  /** The app's pid, which is also its process group's id; undefined before start or beside the runner. */
  get pid(): number | undefined {
    return this.child?.pid;
  }

  /** The last lines of output, for error messages. */
  recentOutput(): string[] {
    return [...this.tail];
  }

  /** SIGTERM, then SIGKILL after `graceMs`; resolves once the process is gone. */
  async stop(graceMs: number): Promise<void> {
    if (!this.child || this.exit) return;
    this.signal('SIGTERM');
    await Promise.race([this.exited, sleep(graceMs)]);
    if (this.exit) return;
    this.signal('SIGKILL');
    await Promise.race([this.exited, sleep(5_000)]);
  }

  /** Last-resort synchronous kill, for when the runner itself is exiting. */
  killNow(): void {
    if (this.child && !this.exit) this.signal('SIGKILL');
  }

  private spawn(command: string[]): void {
    const [file, ...args] = command as [string, ...string[]];
    // Its own process group, so stop reaches what a wrapper (npx, sh -c) started too.
    const child = spawn(file, args, {
      cwd: this.options.cwd,
      env: this.options.env,
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true,
    });
    this.child = child;
    const closed = [this.capture(child.stdout, 'stdout'), this.capture(child.stderr, 'stderr')];
    this.outputClosed = Promise.all(closed).then(() => {});
    child.once('error', (err) => this.markExited({ code: null, signal: null, spawnError: err.message }));
    child.once('exit', (code, signal) => this.markExited({ code, signal }));
  }

  private capture(stream: NodeJS.ReadableStream | null, name: OutputStream): Promise<void> {
    if (!stream) return Promise.resolve();
    const lines = createInterface({ input: stream, crlfDelay: Number.POSITIVE_INFINITY });
    lines.on('line', (line) => {
      this.tail.push(line);
      if (this.tail.length > TAIL_LINES) this.tail.shift();
      this.options.onLine(line, name);
    });
    return new Promise((resolve) => lines.once('close', resolve));
  }

  private markExited(exit: AppExit): void {
    if (this.exit) return;
    this.exit = exit;
    this.resolveExited(exit);
  }

  private signal(signal: NodeJS.Signals): void {
    const pid = this.child?.pid;
    if (pid === undefined) return;
    try {
      process.kill(-pid, signal);
    } catch {
      // Already gone, or the group is: either way there is nothing left to signal.
    }
  }

  private async startError(reason: string): Promise<AppStartError> {
    // The last lines explain most failures; give the pipes a moment to deliver them.
    await Promise.race([this.outputClosed, sleep(200)]);
    const tail = this.recentOutput();
    const output = tail.length > 0 ? `\nlast output:\n${tail.join('\n')}` : '\n(no output)';
    return new AppStartError(reason + output);
  }
}

export function describeExit(exit: AppExit): string {
  if (exit.spawnError) return `could not be started (${exit.spawnError})`;
  if (exit.signal) return `was killed by ${exit.signal}`;
  return `exited with code ${exit.code}`;
}

function describeFetchError(err: unknown): string {
  if (!(err instanceof Error)) return String(err);
  const cause = err.cause;
  if (cause instanceof Error && 'code' in cause) return String(cause.code);
  return err.message;
}
