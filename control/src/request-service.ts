/**
 * The request path inside control: submit → queue → a runner's pull → its result → completion.
 * Routes (fal's queue API, the runner protocol) are thin over this; so is the sync /run call.
 *
 * A request is completed exactly once (store.completeRequest is conditional); a delivery's message
 * is deleted only after its result is recorded, so a crash in between redelivers, never loses.
 */
import { EventEmitter } from 'node:events';
import { setTimeout as sleepFor } from 'node:timers/promises';
import type {
  HeartbeatResponse,
  Job,
  PullResponse,
  ResultBody,
  ResultResponse,
} from './contract/runner-protocol.ts';
import type { Environment, Priority, RequestRecord, RunnerRecord } from './domain.ts';
import { GantryError } from './errors.ts';
import type { QueueDriver } from './queue/queue-driver.ts';
import { judgeAttempt } from './retry-policy.ts';
import { RUNTIME_SETTINGS } from './scaling-settings.ts';
import type { Store } from './store/store.ts';

export interface SubmitOptions {
  path: string;
  input: unknown;
  priority: Priority;
  noRetry: boolean;
  /** Seconds the request may wait to start (x-fal-request-timeout). */
  startTimeoutSeconds: number | null;
}

interface Outstanding {
  requestId: string;
  runnerId: string;
}

/** How long a rollout's candidate is held per pull before it asks again. */
const HOLD_MS = 1000;

/** Fallback poll for waiters, for changes made by another control process sharing the database. */
const WAIT_REPOLL_MS = 1000;

export class RequestService {
  /** Emits `<request id>` whenever that request's status or logs change. */
  readonly events = new EventEmitter();
  /** Deliveries handed to runners and not yet settled, by receipt. */
  private readonly outstanding = new Map<string, Outstanding>();

  constructor(
    private readonly store: Store,
    private readonly queue: QueueDriver,
    private readonly opts: {
      leaseSeconds: number;
      clock?: () => number;
      /** Called after a submit so scaling from zero happens at once, not on the next tick. */
      onSubmitted?: (envId: string) => void;
    },
  ) {
    this.events.setMaxListeners(0);
  }

  private now(): number {
    return (this.opts.clock ?? Date.now)();
  }

  async submit(env: Environment, o: SubmitOptions): Promise<RequestRecord> {
    const req = await this.store.createRequest({
      environment_id: env.id,
      path: o.path,
      input: o.input,
      priority: o.priority,
      no_retry: o.noRetry,
      start_deadline: o.startTimeoutSeconds === null ? null : this.now() + o.startTimeoutSeconds * 1000,
    });
    try {
      await this.queue.send(env.id, { request_id: req.id }, o.priority);
    } catch (err) {
      // The caller gets an error; no request is left behind that nothing would ever run.
      await this.store.discardRequest(req.id).catch(() => {});
      throw err;
    }
    this.opts.onSubmitted?.(env.id);
    return req;
  }

  /** Hands up to `max` jobs to a runner, long-polling up to waitMs. */
  async pull(runner: RunnerRecord, max: number, waitMs: number, signal?: AbortSignal): Promise<PullResponse> {
    const deadline = Date.now() + waitMs;
    for (;;) {
      const fresh = await this.store.getRunner(runner.id);
      if (!fresh || fresh.drain_requested || fresh.ended_at !== null) return { jobs: [], drain: true };
      const serves = await this.servesActiveRevision(fresh);
      if (serves === 'no') return { jobs: [], drain: true };
      if (serves === 'not yet') {
        // A rolling rollout's candidate: healthy and waiting for the switch, taking no work before it.
        await sleep(Math.min(HOLD_MS, Math.max(0, deadline - Date.now())), signal);
        return { jobs: [], drain: false };
      }
      const deliveries = await this.queue.receive(runner.environment_id, {
        max,
        visibilitySeconds: this.opts.leaseSeconds,
        waitMs: Math.max(0, deadline - Date.now()),
        ...(signal ? { signal } : {}),
      });
      const jobs: Job[] = [];
      for (const d of deliveries) {
        const job = await this.startJob(runner, d.receipt, d.message.request_id);
        if (job) jobs.push(job);
      }
      // Every delivery was stale (cancelled, expired): look again while the poll has time left.
      if (jobs.length > 0 || deliveries.length === 0 || Date.now() >= deadline || signal?.aborted) {
        return { jobs, drain: false };
      }
    }
  }

  /**
   * Only runners of the active revision take work: once a rollout switches, the old revision's
   * runners get `drain` at their next pull even before the scaler's stop reaches them.
   */
  private async servesActiveRevision(runner: RunnerRecord): Promise<'yes' | 'no' | 'not yet'> {
    const env = await this.store.getEnvironmentById(runner.environment_id);
    if (!env || env.active_revision_id === runner.revision_id) return 'yes';
    const open = await this.store.getOpenRollout(env.id);
    return open?.candidate_runner_id === runner.id ? 'not yet' : 'no';
  }

  private async startJob(runner: RunnerRecord, receipt: string, requestId: string): Promise<Job | undefined> {
    const req = await this.store.getRequest(requestId);
    if (!req || req.status === 'COMPLETED') {
      await this.queue.delete(receipt);
      return undefined;
    }
    if (req.start_deadline !== null && req.attempts === 0 && this.now() > req.start_deadline) {
      const done = await this.store.completeRequest(req.id, {
        result_status: 504,
        result_body: { detail: 'The request did not start before its x-fal-request-timeout.' },
        result_content_type: 'application/json',
        error: 'The request did not start before its x-fal-request-timeout.',
        error_type: 'request_timeout',
        inference_ms: null,
      });
      await this.queue.delete(receipt);
      if (done) this.changed(req.id);
      return undefined;
    }
    const started = await this.store.startAttempt(req.id, runner.id);
    if (!started) {
      await this.queue.delete(receipt);
      return undefined;
    }
    this.outstanding.set(receipt, { requestId: req.id, runnerId: runner.id });
    this.changed(req.id);
    const scaling = (await this.store.getEnvironmentById(runner.environment_id))?.scaling;
    return {
      receipt,
      request_id: req.id,
      path: req.path,
      input: req.input,
      attempt: started.attempts,
      timeout_s: scaling?.request_timeout ?? RUNTIME_SETTINGS.request_timeout.default,
      lease_s: this.opts.leaseSeconds,
    };
  }

  async heartbeat(runner: RunnerRecord, receipts: string[]): Promise<HeartbeatResponse> {
    const lost: string[] = [];
    const ids: string[] = [];
    for (const receipt of receipts) {
      const ok = await this.queue.extend(receipt, this.opts.leaseSeconds);
      const o = this.outstanding.get(receipt);
      if (!ok) lost.push(receipt);
      else if (o) ids.push(o.requestId);
    }
    const fresh = await this.store.getRunner(runner.id);
    return {
      cancel: await this.store.cancelRequested(ids),
      lost,
      drain: !fresh || fresh.drain_requested,
    };
  }

  /** Records one attempt's result under fal's retry rules. */
  async recordResult(runner: RunnerRecord, r: ResultBody): Promise<ResultResponse> {
    this.outstanding.delete(r.receipt);
    const req = await this.store.getRequest(r.request_id);
    if (!req || req.status === 'COMPLETED' || req.runner_id !== runner.id) {
      // A late or duplicate result: the request completed, or another runner owns it now.
      if (req?.status === 'COMPLETED') await this.queue.delete(r.receipt);
      return { recorded: false, decision: 'ignored' };
    }
    const verdict = judgeAttempt({
      outcome: r.outcome,
      statusCode: r.status_code,
      attempts: req.attempts,
      noRetry: req.no_retry || req.cancel_requested,
    });
    if (verdict.retry) {
      await this.store.requeue(req.id);
      await this.queue.release(r.receipt, 0);
      this.changed(req.id);
      return { recorded: true, decision: 'retry' };
    }
    const inferenceMs = Date.parse(r.finished_at) - Date.parse(r.started_at);
    const isResponse = r.outcome === 'response';
    const error = isResponse
      ? r.status_code !== undefined && r.status_code >= 400
        ? errorText(r.body, r.status_code)
        : null
      : (r.error ?? r.outcome);
    const done = await this.store.completeRequest(req.id, {
      result_status: isResponse ? (r.status_code ?? 500) : r.outcome === 'timeout' ? 504 : 500,
      result_body: isResponse ? (r.body ?? null) : { detail: error },
      result_content_type: isResponse ? (r.content_type ?? 'application/json') : 'application/json',
      error,
      error_type: verdict.errorType,
      inference_ms: Number.isFinite(inferenceMs) ? inferenceMs : null,
    });
    await this.queue.delete(r.receipt);
    if (!done) return { recorded: false, decision: 'ignored' };
    this.changed(req.id);
    return { recorded: true, decision: 'completed' };
  }

  /**
   * A runner ended: whatever it still held is judged as a crashed attempt now, rather than waiting
   * for the lease to run out.
   */
  async runnerEnded(runnerId: string): Promise<void> {
    const held = [...this.outstanding.entries()].filter(([, o]) => o.runnerId === runnerId);
    for (const [receipt, o] of held) {
      const now = new Date(this.now()).toISOString();
      await this.recordResult({ id: runnerId } as RunnerRecord, {
        receipt,
        request_id: o.requestId,
        outcome: 'crash',
        error: 'The runner ended while serving the request.',
        started_at: now,
        finished_at: now,
      });
    }
  }

  async cancel(req: RequestRecord): Promise<'CANCELLATION_REQUESTED' | 'ALREADY_COMPLETED'> {
    const was = await this.store.cancelRequest(req.id);
    if (was === 'COMPLETED' || was === undefined) return 'ALREADY_COMPLETED';
    this.changed(req.id);
    return 'CANCELLATION_REQUESTED';
  }

  async appendLogs(
    logs: { request_id: string; message: string; level: string; source: string; timestamp: string }[],
  ): Promise<void> {
    await this.store.appendLogs(logs);
    for (const id of new Set(logs.map((l) => l.request_id))) this.changed(id);
  }

  /** Resolves when the request changes (or after a short fallback interval, or when aborted). */
  waitForChange(requestId: string, signal?: AbortSignal): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.events.off(requestId, done);
        signal?.removeEventListener('abort', done);
        resolve();
      };
      const timer = setTimeout(done, WAIT_REPOLL_MS);
      this.events.on(requestId, done);
      signal?.addEventListener('abort', done);
    });
  }

  /** Waits until the request completes or the deadline passes; returns the last record seen. */
  async waitForCompletion(requestId: string, deadline: number, signal?: AbortSignal): Promise<RequestRecord> {
    for (;;) {
      const waiting = this.waitForChange(requestId, signal);
      const req = await this.store.getRequest(requestId);
      if (!req) throw new GantryError('GANTRY_ERR_REQUEST_NOT_FOUND');
      if (req.status === 'COMPLETED' || Date.now() >= deadline || signal?.aborted) return req;
      await waiting;
    }
  }

  private changed(requestId: string): void {
    this.events.emit(requestId);
  }
}

/** Sleeps, ending early (without throwing) when the caller hangs up. */
async function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  await sleepFor(ms, undefined, signal ? { signal } : {}).catch(() => {});
}

function errorText(body: unknown, status: number): string {
  if (body && typeof body === 'object' && 'detail' in body) {
    const d = (body as { detail: unknown }).detail;
    return typeof d === 'string' ? d : JSON.stringify(d);
  }
  if (typeof body === 'string' && body.length > 0) return body.slice(0, 2000);
  return `The app answered HTTP ${status}.`;
}
