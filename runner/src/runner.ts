/**
 * The runner loop: start the app, pull jobs into free multiplexing slots, forward each to the app,
 * keep their leases alive, report results, ship logs, and drain on request.
 *
 * Exit codes (what `run()` resolves to): 0 after a drain, 3 when the app failed to start,
 * 4 when the app died while the runner was serving.
 */
import { setImmediate } from 'node:timers/promises';
import {
  ControlHttpError,
  isRetryableControlError,
  type RunnerClient,
} from '../../contract/src/runner-client.ts';
import type { Job, ResultBody, RunnerReportedState } from '../../contract/src/runner-protocol.ts';
import { type AppExit, AppProcess, AppStartError, describeExit } from './app-process.ts';
import type { RunnerConfig } from './config.ts';
import { type AttemptResult, cancelJob, createAppAgent, forwardJob } from './forward-job.ts';
import type { JobSource } from './job-source.ts';
import { LogShipper } from './log-shipper.ts';
import { exponentialBackoff, retry, sleep } from './retry.ts';
import type { RunnerLog } from './runner-log.ts';
import { runSmokeRequest } from './smoke-request.ts';

/** Quiet time before a runner that finished its work reports IDLE. */
const IDLE_REPORT_DELAY_MS = 250;

export const EXIT = { drained: 0, startupFailed: 3, appCrashed: 4 } as const;

export const DRAINED_ERROR = 'runner drained before the request finished';

export interface RunnerTiming {
  /** Heartbeat period while nothing is in flight (with jobs: a third of the shortest lease). */
  idleHeartbeatMs: number;
  logFlushMs: number;
  logBatchLines: number;
  /** Between SIGTERM and SIGKILL when stopping the app. */
  appStopGraceMs: number;
  /** Reporting a result: attempts in all, and the backoff between them. */
  resultAttempts: number;
  resultBackoffMs: number;
  resultBackoffMaxMs: number;
  /** Backoff while pull or state reports fail (control restarting). */
  controlBackoffMs: number;
  controlBackoffMaxMs: number;
  healthIntervalMs: number;
  /**
   * Heartbeats failing this long mean control is gone (deleted, or its network cut): the runner
   * drains and exits, so a cloud task is not billed for ever with nobody to send it work or stop it.
   */
  controlLostMs: number;
  /** How long a drain waits for the pull in flight to be answered before hanging up on it. */
  drainPullWaitMs: number;
}

export const DEFAULT_TIMING: RunnerTiming = {
  idleHeartbeatMs: 10_000,
  logFlushMs: 100,
  logBatchLines: 100,
  appStopGraceMs: 10_000,
  // About 90 s in all: longer than control takes to restart, so a result survives it.
  resultAttempts: 20,
  resultBackoffMs: 200,
  resultBackoffMaxMs: 5_000,
  controlBackoffMs: 200,
  controlBackoffMaxMs: 5_000,
  healthIntervalMs: 50,
  // Far beyond a control restart (about a minute), well below an idle GPU-hour.
  controlLostMs: 10 * 60_000,
  // Longer than the longest pull control holds (20 s).
  drainPullWaitMs: 25_000,
};

export interface RunnerDeps {
  config: RunnerConfig;
  /** For state reports and logs; jobs go through `jobs`. */
  control: RunnerClient;
  jobs: JobSource;
  log: RunnerLog;
  timing?: Partial<RunnerTiming>;
}

interface ActiveJob {
  job: Job;
  startedAt: string;
  /** Aborted when the drain grace runs out. */
  abort: AbortController;
  /** The app is still working on it (holds a multiplexing slot). */
  running: boolean;
  cancelSent: boolean;
  /** Control no longer knows the receipt: no more heartbeats, no result. */
  lost: boolean;
}

export class Runner {
  private readonly timing: RunnerTiming;
  private readonly app: AppProcess;
  private readonly logs: LogShipper;
  private readonly agent = createAppAgent();
  private readonly active = new Map<string, ActiveJob>();
  private readonly settled = new Set<Promise<void>>();
  private state: RunnerReportedState | undefined;
  /** Pending switch back to IDLE; see updateBusyState. */
  private idleTimer: NodeJS.Timeout | undefined;
  private stateReports: Promise<void> = Promise.resolve();
  private stateVersion = 0;
  private draining = false;
  private stopping = false;
  private readonly drainRequested: Promise<string>;
  private requestDrain: (reason: string) => void = () => {};
  private readonly pullAbort = new AbortController();
  private wakePuller: () => void = () => {};
  private heartbeatTimer: NodeJS.Timeout | undefined;
  private heartbeatDue = Number.POSITIVE_INFINITY;
  private heartbeating = false;
  private heartbeatsStopped = false;
  private lastControlContact = Date.now();

  constructor(private readonly deps: RunnerDeps) {
    this.timing = { ...DEFAULT_TIMING, ...deps.timing };
    const { config } = deps;
    this.logs = new LogShipper({
      send: (logs) => deps.control.sendLogs({ logs }),
      inFlight: () => [...this.active.values()].filter((a) => a.running).map((a) => a.job.request_id),
      log: deps.log,
      flushMs: this.timing.logFlushMs,
      batchLines: this.timing.logBatchLines,
    });
    this.app = new AppProcess({
      command: config.appCommand,
      cwd: config.appCwd,
      env: config.appEnv,
      port: config.appPort,
      startupTimeoutMs: config.startupTimeoutS * 1000,
      healthIntervalMs: this.timing.healthIntervalMs,
      onLine: (line, stream) => this.logs.push(line, stream),
    });
    this.drainRequested = new Promise((resolve) => {
      this.requestDrain = resolve;
    });
  }

  /** Stop pulling, finish in-flight work within the drain grace, stop the app, exit 0. Idempotent. */
  drain(reason: string): void {
    this.requestDrain(reason);
  }

  /**
   * A line of the app's output that reached the runner another way than its pipes (relayed on
   * stdin, or posted by a log router with `at`, when the app wrote it).
   */
  appOutput(line: string, stream: 'stdout' | 'stderr', at?: number): void {
    this.logs.push(line, stream, at);
  }

  /** Kills the app at once; for when the runner process is exiting without a drain. */
  killApp(): void {
    this.app.killNow();
  }

  /** Runs until drained or the app dies; resolves to the process exit code. */
  async run(): Promise<number> {
    const { log, config } = this.deps;
    const started = Date.now();
    this.setState('SETUP');
    log.info('starting app', {
      command: config.appCommand ? JSON.stringify(config.appCommand) : '(beside the runner)',
      port: config.appPort,
    });

    const starting = this.app.start();
    // Whoever started this runner (the process driver) reads this line, so that if the runner is
    // killed outright, the app's process group is killed after it instead of living on.
    if (this.app.pid !== undefined) log.info('app started', { pgid: this.app.pid });
    const startup = await Promise.race([
      starting.then(
        () => ({ kind: 'ready' as const }),
        (err: unknown) => ({ kind: 'failed' as const, err }),
      ),
      this.drainRequested.then((reason) => ({ kind: 'drain' as const, reason })),
    ]);
    if (startup.kind === 'failed') {
      const detail =
        startup.err instanceof AppStartError
          ? startup.err.message
          : `the app failed to start: ${String(startup.err)}`;
      log.error('app failed to start', { detail });
      return this.terminate(EXIT.startupFailed, detail);
    }
    if (startup.kind === 'drain') {
      log.info('drain requested during setup', { reason: startup.reason });
      return this.terminate(EXIT.drained);
    }

    log.info('app healthy', { startup_ms: Date.now() - started });
    if (config.smoke) {
      // Still SETUP: a candidate that fails its smoke request never reports ready, so never serves.
      const smokeStopped = new AbortController();
      const failure = await Promise.race([
        runSmokeRequest({
          baseUrl: this.app.baseUrl,
          smoke: config.smoke,
          runnerId: config.runnerId,
          timeoutMs: config.startupTimeoutS * 1000,
          signal: smokeStopped.signal,
        }),
        this.drainRequested.then(() => 'drain' as const),
      ]);
      smokeStopped.abort();
      if (failure === 'drain') return this.terminate(EXIT.drained);
      if (failure !== undefined) {
        log.error('app failed its smoke request', { detail: failure });
        return this.terminate(EXIT.startupFailed, failure);
      }
      log.info('smoke request answered', { path: config.smoke.path, status: config.smoke.expect_status });
    }
    this.setState('IDLE');
    this.scheduleHeartbeat();
    const pulling = this.pullLoop();

    const ending = await Promise.race([
      this.drainRequested.then((reason) => ({ kind: 'drain' as const, reason })),
      this.app.exited.then((exit) => ({ kind: 'crash' as const, exit })),
    ]);
    if (ending.kind === 'crash') return this.onAppDied(ending.exit, pulling);
    return this.runDrain(ending.reason, pulling);
  }

  private async runDrain(reason: string, pulling: Promise<void>): Promise<number> {
    const { log, config } = this.deps;
    this.draining = true;
    log.info('draining', { reason, in_flight: this.runningCount() });
    this.setState('DRAINING');
    // A pull already sent is answered, not abandoned: control may have started a request on this
    // runner a moment before the drain reached it, and hanging up would lose that request with
    // the runner. Control answers a draining runner's pull at once (its DRAINING report ends the
    // long poll); the bound is for a control that never answers.
    this.wakePuller();
    const answered = new AbortController();
    const pullAnswered = await Promise.race([
      pulling.then(() => true),
      sleep(this.timing.drainPullWaitMs, answered.signal).then(() => false),
    ]);
    answered.abort();
    if (!pullAnswered) this.pullAbort.abort(new Error('draining'));
    await pulling;

    const allSettled = this.allSettled();
    const graceOver = sleep(config.drainGraceS * 1000).then(() => 'grace' as const);
    if ((await Promise.race([allSettled.then(() => 'done' as const), graceOver])) === 'grace') {
      const unfinished = [...this.active.values()].filter((a) => a.running);
      log.warn('drain grace over; giving unfinished requests back', { requests: unfinished.length });
      for (const entry of unfinished) entry.abort.abort(new Error(DRAINED_ERROR));
      await this.allSettled();
    }
    return this.terminate(EXIT.drained);
  }

  private async onAppDied(exit: AppExit, pulling: Promise<void>): Promise<number> {
    const tail = this.app.recentOutput();
    const detail = `the app ${describeExit(exit)} while serving${tail.length ? `\nlast output:\n${tail.join('\n')}` : ''}`;
    this.deps.log.error('app died', { detail });
    this.draining = true;
    this.pullAbort.abort(new Error('app died'));
    this.wakePuller();
    await pulling;
    // In-flight attempts fail on their own as `crash`; wait for their results to be reported.
    await this.allSettled();
    return this.terminate(EXIT.appCrashed, detail);
  }

  private async terminate(code: number, detail?: string): Promise<number> {
    this.draining = true;
    this.stopping = true;
    this.stopHeartbeats();
    await this.app.stop(this.timing.appStopGraceMs);
    await this.logs.close();
    this.setState('TERMINATED', detail);
    await this.stateReports;
    this.agent.destroy();
    this.deps.log.info('terminated', { exit_code: code });
    return code;
  }

  // --- pulling -------------------------------------------------------------------------------

  private async pullLoop(): Promise<void> {
    const backoff = exponentialBackoff(this.timing.controlBackoffMs, this.timing.controlBackoffMaxMs);
    while (!this.draining) {
      const free = this.deps.config.maxMultiplexing - this.runningCount();
      if (free <= 0) {
        await new Promise<void>((resolve) => {
          this.wakePuller = resolve;
        });
        continue;
      }
      let pulled: Awaited<ReturnType<JobSource['pull']>>;
      try {
        pulled = await this.deps.jobs.pull(free, this.pullAbort.signal);
      } catch (err) {
        if (this.draining) return;
        // Control ended this runner (a restart, a kill): no work will come; finish what is held and exit.
        if (err instanceof ControlHttpError && err.status === 410) {
          this.drain('control says this runner has ended');
          return;
        }
        const delay = backoff.next();
        this.deps.log.warn('pull failed; retrying', { in_ms: delay, error: errorMessage(err) });
        await sleep(delay, this.pullAbort.signal);
        continue;
      }
      backoff.reset();
      for (const job of pulled.jobs) this.startJob(job);
      if (pulled.drain) this.drain('control asked the runner to drain');
    }
  }

  // --- jobs ----------------------------------------------------------------------------------

  private startJob(job: Job): void {
    const entry: ActiveJob = {
      job,
      startedAt: new Date().toISOString(),
      abort: new AbortController(),
      running: true,
      cancelSent: false,
      lost: false,
    };
    this.active.set(job.receipt, entry);
    this.logs.began(job.request_id);
    this.updateBusyState();
    this.scheduleHeartbeat();
    const settled = this.runJob(entry).finally(() => {
      this.active.delete(job.receipt);
      this.settled.delete(settled);
    });
    this.settled.add(settled);
  }

  private async runJob(entry: ActiveJob): Promise<void> {
    const { job } = entry;
    let result: AttemptResult;
    try {
      result = await forwardJob({
        port: this.deps.config.appPort,
        agent: this.agent,
        job,
        signal: entry.abort.signal,
        appExit: () => this.app.exitWithin(300),
        // Control answers early when the caller hung up: the app hears the cancel at once.
        relayEvents: async (events) => {
          const answer = await this.deps.control.streamEvents(job.request_id, events);
          if (answer.cancel) this.cancel(job.request_id);
        },
      });
    } catch (err) {
      result = { outcome: 'connection_error', error: errorMessage(err) };
    }
    // A line the app wrote before answering is already in its pipe, but the answer's socket may
    // have been read first in the same turn of the event loop: let that turn finish reading pipes
    // while the request still counts as in flight, so such a line is still attributed to it.
    await setImmediate();
    entry.running = false;
    this.logs.ended(job.request_id);
    this.updateBusyState();
    this.wakePuller();
    if (entry.lost) return;

    // An answer is recorded by control, with its status: a line per request here would only cost
    // (CloudWatch bills each). An attempt that got no answer is worth one.
    if (result.outcome !== 'response') {
      this.deps.log.warn('request got no answer from the app', {
        request_id: job.request_id,
        outcome: result.outcome,
        error: result.error,
      });
    }
    // Its logs ride with the result, so a caller who sees the request completed sees its logs too.
    const logs = await this.logs.takeFor(job.request_id);
    await this.reportResult({
      receipt: job.receipt,
      request_id: job.request_id,
      ...result,
      started_at: entry.startedAt,
      finished_at: new Date().toISOString(),
      ...(logs.length > 0 ? { logs } : {}),
    });
  }

  private async reportResult(result: ResultBody): Promise<void> {
    const { jobs, log } = this.deps;
    try {
      await retry(() => jobs.complete(result), {
        attempts: this.timing.resultAttempts,
        initialMs: this.timing.resultBackoffMs,
        maxMs: this.timing.resultBackoffMaxMs,
        retryable: (err) => jobs.isRetryable(err),
        onRetry: (err, attempt, delay) =>
          log.warn('reporting a result failed; retrying', {
            request_id: result.request_id,
            attempt,
            in_ms: delay,
            error: errorMessage(err),
          }),
      });
    } catch (err) {
      // The lease lapses without heartbeats, so control gives the request to another attempt.
      log.error('could not report a result; control will retry the request when its lease expires', {
        request_id: result.request_id,
        outcome: result.outcome,
        error: errorMessage(err),
      });
    }
  }

  private async allSettled(): Promise<void> {
    while (this.settled.size > 0) await Promise.all([...this.settled]);
  }

  private runningCount(): number {
    let count = 0;
    for (const entry of this.active.values()) if (entry.running) count++;
    return count;
  }

  // --- heartbeats ----------------------------------------------------------------------------

  private heartbeatIntervalMs(): number {
    let interval = this.timing.idleHeartbeatMs;
    for (const entry of this.active.values()) {
      if (!entry.lost) interval = Math.min(interval, (entry.job.lease_s * 1000) / 3);
    }
    return interval;
  }

  /** Keeps the next heartbeat no later than a third of the shortest lease in flight. */
  private scheduleHeartbeat(): void {
    if (this.heartbeatsStopped || this.heartbeating) return;
    const interval = this.heartbeatIntervalMs();
    const due = Date.now() + interval;
    if (this.heartbeatTimer && this.heartbeatDue <= due) return;
    clearTimeout(this.heartbeatTimer);
    this.heartbeatDue = due;
    this.heartbeatTimer = setTimeout(() => void this.heartbeat(), interval);
  }

  private async heartbeat(): Promise<void> {
    this.heartbeatTimer = undefined;
    this.heartbeating = true;
    const receipts = [...this.active.values()].filter((a) => !a.lost).map((a) => a.job.receipt);
    try {
      const update = await this.deps.jobs.extend(receipts, this.runningCount());
      for (const receipt of update.lost) this.markLost(receipt);
      for (const requestId of update.cancel) this.cancel(requestId);
      if (update.drain) this.drain('control asked the runner to drain');
      this.lastControlContact = Date.now();
    } catch (err) {
      this.deps.log.warn('heartbeat failed', { receipts: receipts.length, error: errorMessage(err) });
      const silentMs = Date.now() - this.lastControlContact;
      if (silentMs >= this.timing.controlLostMs)
        this.drain(`control unreachable for ${Math.round(silentMs / 1000)} s`);
    } finally {
      this.heartbeating = false;
      this.scheduleHeartbeat();
    }
  }

  private stopHeartbeats(): void {
    this.heartbeatsStopped = true;
    clearTimeout(this.heartbeatTimer);
    this.heartbeatTimer = undefined;
  }

  private markLost(receipt: string): void {
    const entry = this.active.get(receipt);
    if (!entry || entry.lost) return;
    entry.lost = true;
    this.deps.log.warn('control no longer knows a request; dropping it', {
      request_id: entry.job.request_id,
    });
  }

  /** The app gets the cancel and decides; the runner keeps waiting for its answer. */
  private cancel(requestId: string): void {
    for (const entry of this.active.values()) {
      if (entry.job.request_id !== requestId || !entry.running || entry.cancelSent) continue;
      entry.cancelSent = true;
      this.deps.log.info('cancelling request', { request_id: requestId });
      cancelJob(this.deps.config.appPort, entry.job).catch((err: unknown) =>
        this.deps.log.warn('could not pass a cancel to the app', {
          request_id: requestId,
          error: errorMessage(err),
        }),
      );
    }
  }

  // --- state ---------------------------------------------------------------------------------

  /**
   * RUNNING is reported at once; IDLE only after a short quiet spell, so back-to-back requests
   * cost no state reports at all. Control counts the jobs it handed out itself, so a lagging
   * report never makes a busy runner look drainable.
   */
  private updateBusyState(): void {
    if (this.draining) return;
    const running = this.runningCount();
    if (running > 0) {
      clearTimeout(this.idleTimer);
      this.idleTimer = undefined;
      if (this.state !== 'RUNNING') this.setState('RUNNING');
    } else if (this.state === 'RUNNING' && !this.idleTimer) {
      this.idleTimer = setTimeout(() => {
        this.idleTimer = undefined;
        if (!this.draining && this.runningCount() === 0 && this.state === 'RUNNING') this.setState('IDLE');
      }, IDLE_REPORT_DELAY_MS);
      this.idleTimer.unref();
    }
  }

  /**
   * Reports go out one at a time and in order; a failed report is retried with backoff until a newer
   * state supersedes it (control only needs the latest), except TERMINATED, which is tried harder.
   */
  private setState(state: RunnerReportedState, detail?: string): void {
    if (this.stopping && state !== 'TERMINATED') return;
    this.state = state;
    const version = ++this.stateVersion;
    const report = {
      state,
      in_flight: this.runningCount(),
      ...(detail === undefined ? {} : { detail: clip(detail, 4000) }),
    };
    const final = state === 'TERMINATED';
    this.stateReports = this.stateReports.then(async () => {
      const backoff = exponentialBackoff(this.timing.controlBackoffMs, this.timing.controlBackoffMaxMs);
      for (let attempt = 1; ; attempt++) {
        if (version !== this.stateVersion) return;
        try {
          await this.deps.control.reportState(report);
          return;
        } catch (err) {
          const retryable = isRetryableControlError(err);
          const limit = final ? this.timing.resultAttempts : Number.POSITIVE_INFINITY;
          if (!retryable || attempt >= limit) {
            this.deps.log.warn('could not report state', { state, error: errorMessage(err) });
            return;
          }
          await sleep(backoff.next());
        }
      }
    });
  }
}

/** Keeps the start (the reason) and the end (the app's last lines) of a long text. */
function clip(text: string, max: number): string {
  if (text.length <= max) return text;
  const head = Math.floor(max / 4);
  return `${text.slice(0, head)}\n…\n${text.slice(text.length - (max - head - 3))}`;
}

function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
