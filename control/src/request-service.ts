/**
 * The request path inside control: submit → queue → a runner's pull → its result → completion.
 * Routes (fal's queue API, the runner protocol) are thin over this; so is the sync /run call.
 *
 * A request is completed exactly once (store.completeRequest is conditional); a delivery's message
 * is deleted only after its result is recorded, so a crash in between redelivers, never loses.
 */
import { GantryError } from '../../contract/src/errors.ts';
import type {
  ClaimResponse,
  HeartbeatResponse,
  Job,
  MessageAction,
  PullResponse,
  ResultBody,
  ResultResponse,
} from '../../contract/src/runner-protocol.ts';
import { RUNTIME_SETTINGS } from '../../contract/src/scaling-settings.ts';
import { controlCompletion, inferenceMs, jobFor, responseCompletion } from './attempt-completion.ts';
import type { Environment, Priority, RequestRecord, RunnerRecord } from './domain.ts';
import type { Delivery, QueueDriver } from './queue/queue-driver.ts';
import { RequestWaiters } from './request-waiters.ts';
import { ERROR_TYPES, judgeAttempt, MAX_ATTEMPTS } from './retry-policy.ts';
import { RunnerHints } from './runner-hints.ts';
import { sleep } from './sleep.ts';
import { type Completion, START_TIMEOUT_MESSAGE } from './store/requests-store.ts';
import type { Store } from './store/store.ts';

export interface SubmitOptions {
  path: string;
  /** The input as the caller sent it: bytes and content type, kept and forwarded unchanged. */
  input: { bytes: Uint8Array; contentType: string };
  /** x-fal-runner-hint. */
  runnerHint?: string | null;
  priority: Priority;
  noRetry: boolean;
  /** Seconds the request may wait to start (x-fal-request-timeout). */
  startTimeoutSeconds: number | null;
  /** The caller's key, for usage (absent for a call without a valid key). */
  keyId?: string | null;
  /** fal_webhook, already checked. */
  webhookUrl?: string | null;
  /** fal_max_queue_length: refuse (429) when this many requests already wait. */
  maxQueueLength?: number | null;
  /** Idempotency-Key: recorded with the request; IdempotencyKeyTaken if a live one exists. */
  idempotency?: { key: string; fingerprint: string };
}

interface Outstanding {
  requestId: string;
  runnerId: string;
  environmentId: string;
  /** The runner received the message from SQS itself; it extends and deletes it. */
  direct: boolean;
}

/** How long a rollout's candidate is held per pull before it asks again. */
const HOLD_MS = 1000;

/** How long a runner's "yes" from the pull gate is trusted. */
const GATE_CACHE_MS = 1000;

export class RequestService {
  /** Callers waiting on a request's next change or its completion. */
  private readonly waiters: RequestWaiters;
  /** Runners whose pull gate said "yes", until when (see gate()). */
  private readonly gateOpen = new Map<string, number>();
  /** Deliveries handed to runners and not yet settled, by receipt. */
  private readonly outstanding = new Map<string, Outstanding>();
  /**
   * Runners on their way out (told to drain, or being replaced after an attempt ran past
   * request_timeout): from that moment they get no new work, even from a poll already waiting.
   */
  private readonly retiring = new Set<string>();
  /** Long polls waiting for work, by runner: a drain ends them at once (see stopServing). */
  private readonly waitingPulls = new Map<string, Set<AbortController>>();
  /** x-fal-runner-hint: who served a hint last, and which polls wait for work. */
  private readonly hints = new RunnerHints();

  constructor(
    private readonly store: Store,
    private readonly queue: QueueDriver,
    private readonly opts: {
      leaseSeconds: number;
      clock?: () => number;
      /** Called after a submit so scaling from zero happens at once, not on the next tick. */
      onSubmitted?: (envId: string) => void;
      /** An attempt ran past request_timeout: the runner that held it is replaced. */
      onAttemptTimedOut?: (runnerId: string) => void;
      /** A request completed (webhooks wake on it). */
      onCompleted?: (rec: RequestRecord) => void;
      /** An attempt started on a runner (metrics: attempts, queue wait). */
      onAttemptStarted?: (rec: RequestRecord) => void;
      /** A failed attempt went back on the queue, with fal's error type (metrics: retries). */
      onRetried?: (envId: string, errorType: string) => void;
      /** Where the app stores output files for a job of this environment, valid `ttlS` seconds. */
      jobFilesUrl?: (environmentId: string, ttlS: number) => Promise<string | undefined>;
    },
  ) {
    this.waiters = new RequestWaiters(store);
  }

  /**
   * Domain time: what is stored and compared with stored times (start deadlines, attempt times).
   * Tests move it by hand. How long a poll is held, or the pull gate is cached, is elapsed time on
   * this process's monotonic clock (`performance.now()`): a test clock standing still must not
   * hold a runner's connection forever, and a wall-clock step must not cut one short.
   */
  private now(): number {
    return (this.opts.clock ?? Date.now)();
  }

  async submit(env: Environment, o: SubmitOptions): Promise<RequestRecord> {
    if (o.maxQueueLength !== undefined && o.maxQueueLength !== null) {
      const { queued } = await this.store.requests.counts(env.id);
      if (queued >= o.maxQueueLength) {
        throw new GantryError(
          'GANTRY_ERR_QUEUE_FULL',
          `${queued} requests are waiting, at or over this request's fal_max_queue_length of ${o.maxQueueLength}.`,
          { queue_length: queued, max_queue_length: o.maxQueueLength },
        );
      }
    }
    const row = {
      environment_id: env.id,
      path: o.path,
      input_raw: o.input.bytes,
      input_content_type: o.input.contentType,
      runner_hint: o.runnerHint ?? null,
      priority: o.priority,
      no_retry: o.noRetry,
      start_deadline: o.startTimeoutSeconds === null ? null : this.now() + o.startTimeoutSeconds * 1000,
      key_id: o.keyId ?? null,
      webhook_url: o.webhookUrl ?? null,
    };
    const message = (id: string) =>
      o.runnerHint ? { request_id: id, hint: o.runnerHint } : { request_id: id };
    // The embedded queue, with nothing else to write: the request and its message in one statement.
    const stored = o.idempotency ? undefined : this.queue.storedSend?.(env.id, o.priority);
    if (stored) {
      const req = await this.store.requests.create(row, stored.row);
      stored.sent();
      this.opts.onSubmitted?.(env.id);
      return req;
    }
    const sendInTransaction = this.queue.sendInTransaction?.bind(this.queue);
    if (sendInTransaction) {
      // The embedded queue: the request and its message are one commit, so a crash at any instant
      // leaves both or neither.
      let committed = () => {};
      const req = await this.store.transaction(async (tx) => {
        const created = await tx.requests.create(row);
        if (o.idempotency)
          await tx.idempotency.remember(env.id, o.idempotency.key, o.idempotency.fingerprint, created.id);
        committed = await sendInTransaction(tx.db, env.id, message(created.id), o.priority);
        return created;
      });
      committed();
      this.opts.onSubmitted?.(env.id);
      return req;
    }
    const req = await this.store.requests.create(row);
    if (o.idempotency) {
      const { key, fingerprint } = o.idempotency;
      await this.store.idempotency.remember(env.id, key, fingerprint, req.id).catch(async (err: unknown) => {
        await this.store.requests.discard(req.id).catch(() => {});
        throw err;
      });
    }
    try {
      await this.queue.send(env.id, message(req.id), o.priority);
    } catch (err) {
      // The caller gets an error; no request is left behind that nothing would ever run.
      await this.store.requests.discard(req.id).catch(() => {});
      throw new GantryError(
        'GANTRY_ERR_QUEUE_UNAVAILABLE',
        `The queue did not take the request: ${(err as Error).message}`,
      );
    }
    // Marks the two writes done; a row left unmarked by a crash is failed by reapUnenqueued.
    await this.store.requests.markEnqueued(req.id).catch(() => {});
    this.opts.onSubmitted?.(env.id);
    return req;
  }

  /** Fails requests a crash left without their SQS message (see RequestsStore.failUnenqueued). */
  async reapUnenqueued(olderThanMs: number): Promise<number> {
    const failed = await this.store.requests.failUnenqueued(olderThanMs);
    await this.store.idempotency.forgetRequests(failed.map((r) => r.id));
    for (const rec of failed) this.completed(rec);
    return failed.length;
  }

  /** Hands up to `max` jobs to a runner, long-polling up to waitMs. */
  async pull(
    runner: Pick<RunnerRecord, 'id' | 'environment_id'>,
    max: number,
    waitMs: number,
    signal?: AbortSignal,
  ): Promise<PullResponse> {
    const deadline = performance.now() + waitMs;
    // Ended by the caller hanging up, or by a drain of this runner (stopServing).
    const ended = new AbortController();
    const onCallerGone = () => ended.abort();
    signal?.addEventListener('abort', onCallerGone);
    if (signal?.aborted) ended.abort();
    const waiting = this.waitingPulls.get(runner.id) ?? new Set<AbortController>();
    this.waitingPulls.set(runner.id, waiting);
    waiting.add(ended);
    try {
      for (;;) {
        // Only runners of the active revision take work: once a rollout switches, the old revision's
        // runners get `drain` at their next pull even before the scaler's stop reaches them.
        const serves = this.retiring.has(runner.id) ? 'drain' : await this.gate(runner.id);
        if (serves === 'drain') return { jobs: [], drain: true };
        if (serves === 'not yet') {
          // A rolling rollout's candidate: healthy and waiting for the switch, taking no work before it.
          await sleep(Math.min(HOLD_MS, Math.max(0, deadline - performance.now())), ended.signal);
          return { jobs: [], drain: false };
        }
        // While this poll waits, another runner's pull may hand it a job whose runner hint names it.
        const hinted = this.hints.wait(runner.id, runner.environment_id, max, ended.signal);
        let deliveries: Delivery[];
        try {
          deliveries = await this.queue.receive(runner.environment_id, {
            max,
            visibilitySeconds: this.opts.leaseSeconds,
            waitMs: Math.max(0, deadline - performance.now()),
            signal: AbortSignal.any([ended.signal, hinted.handedOver.signal]),
          });
        } finally {
          await this.hints.stopWaiting(hinted);
        }
        // A runner retiring, or one that hung up this pull: it would never see these jobs.
        if (this.retiring.has(runner.id) || ended.signal.aborted) {
          for (const d of deliveries) await this.queue.release(d.receipt, 0);
          for (const job of hinted.jobs) await this.giveBack(runner.id, job);
          return { jobs: [], drain: this.retiring.has(runner.id) };
        }
        const jobs: Job[] = [...hinted.jobs];
        for (const [i, d] of deliveries.entries()) {
          // Jobs handed over count against what the runner asked for: the rest go back at once.
          if (jobs.length >= max) {
            await this.queue.release(d.receipt, 0);
            continue;
          }
          const handed = await this.hints.handOff(
            runner,
            d,
            (to) =>
              this.startJob(
                { id: to, environment_id: runner.environment_id },
                d.receipt,
                d.message.request_id,
                false,
              ),
            (id) => this.retiring.has(id),
          );
          if (handed === 'handed' || handed === 'held') continue;
          const job =
            handed === 'stale'
              ? undefined
              : await this.startJob(runner, d.receipt, d.message.request_id, false);
          // Another attempt holds it: startJob put the message off until the hold can have lapsed.
          if (job === 'held') continue;
          if (job === 'refused') {
            // Told to drain between the gate and the start: the rest go back for another runner.
            for (const rest of deliveries.slice(i)) await this.queue.release(rest.receipt, 0);
            return { jobs, drain: true };
          }
          if (job) jobs.push(job);
          // Stale: the request will never run again (completed, cancelled, expired).
          else await this.queue.delete(d.receipt);
        }
        // Every delivery was stale (cancelled, expired) or handed over: look again while the poll
        // has time left.
        if (
          jobs.length > 0 ||
          deliveries.length === 0 ||
          performance.now() >= deadline ||
          ended.signal.aborted
        ) {
          return { jobs, drain: false };
        }
      }
    } finally {
      signal?.removeEventListener('abort', onCallerGone);
      waiting.delete(ended);
      if (waiting.size === 0) this.waitingPulls.delete(runner.id);
    }
  }

  /** A job handed to a poll that ended before it could answer: back to the queue for anyone. */
  private async giveBack(runnerId: string, job: Job): Promise<void> {
    this.outstanding.delete(job.receipt);
    await this.store.requests.requeue(job.request_id, runnerId);
    await this.queue.release(job.receipt, 0);
  }

  /**
   * This runner was told to drain (by this process or, seen in its state report, by another):
   * from now on it starts nothing, and a long poll it has waiting answers `drain` at once. The
   * store refuses starts on a drained runner too (startAttempt), for pulls served by another
   * control process.
   */
  stopServing(runnerId: string): void {
    this.retiring.add(runnerId);
    this.gateOpen.delete(runnerId);
    for (const pull of this.waitingPulls.get(runnerId) ?? []) pull.abort();
  }

  /**
   * A runner that polls SQS itself received a message: start the attempt, or say what to do with
   * a message it must not run.
   */
  async claim(
    runner: Pick<RunnerRecord, 'id' | 'environment_id'>,
    receipt: string,
    requestId: string,
  ): Promise<ClaimResponse> {
    // The same gate as pull: not for a runner on its way out, nor for one of a revision a rollout
    // has replaced (or a candidate still waiting for the switch): back on the queue at once.
    const gate = this.retiring.has(runner.id) ? 'drain' : await this.gate(runner.id);
    if (gate !== 'yes') return { message: 'release', drain: gate === 'drain' };
    const job = await this.startJob(runner, receipt, requestId, true);
    if (job === 'refused') return { message: 'release', drain: true };
    // A second delivery of a request another attempt holds: control put it off; nothing to do.
    if (job === 'held') return { message: 'none', drain: false };
    return job ? { job, message: 'none', drain: false } : { message: 'delete', drain: false };
  }

  /**
   * The attempt started; undefined when the request is stale; `refused` when the runner may not
   * take work; `held` when another attempt holds the request (this delivery is a second one of its
   * message: SQS's visibility ran out while the attempt ran, or a send was repeated). A held
   * delivery is put off for a lease, never deleted: if the holder's attempt is retried or its
   * runner is lost, this is the message that runs the request again.
   */
  private async startJob(
    runner: Pick<RunnerRecord, 'id' | 'environment_id'>,
    receipt: string,
    requestId: string,
    direct: boolean,
  ): Promise<Job | 'refused' | 'held' | undefined> {
    const started = await this.store.requests.startAttempt(requestId, runner.id, runner.environment_id, {
      receipt,
      ms: this.holdMs(),
    });
    if (started) {
      this.opts.onAttemptStarted?.(started);
      // A redelivery: whatever receipt held this request before is settled (a lost runner).
      for (const [r, o] of this.outstanding) if (o.requestId === requestId) this.outstanding.delete(r);
      this.outstanding.set(receipt, {
        requestId,
        runnerId: runner.id,
        environmentId: runner.environment_id,
        direct,
      });
      this.changed(started);
      if (started.runner_hint) this.hints.served(started.environment_id, started.runner_hint, runner.id);
      const timeoutS = started.request_timeout ?? RUNTIME_SETTINGS.request_timeout.default;
      const filesUrl = await this.opts.jobFilesUrl?.(
        started.environment_id,
        timeoutS + this.opts.leaseSeconds,
      );
      return jobFor(started, receipt, { timeoutS, leaseS: this.opts.leaseSeconds, filesUrl });
    }
    // Not started. The store refuses a runner told to drain (or of a replaced revision): the
    // message goes back to the queue for another runner.
    this.gateOpen.delete(runner.id);
    if ((await this.store.runners.pullGate(runner.id)) !== 'yes') return 'refused';
    // Otherwise, why: it completed meanwhile (cancelled, done elsewhere), belongs to another
    // environment, was redelivered after its runner was lost with no retry left, or missed its start
    // deadline. Only the last two complete it here.
    const req = await this.store.requests.get(requestId);
    if (!req || req.status === 'COMPLETED' || req.environment_id !== runner.environment_id) return undefined;
    // The start deadline wins: past it, nothing starts again, whatever happened before.
    const expired = req.start_deadline !== null && this.now() > req.start_deadline;
    const inProgress = !expired && req.status === 'IN_PROGRESS';
    if (inProgress && !req.no_retry && req.attempts < MAX_ATTEMPTS) {
      // Retries were left, so a hold refused the start (held still, or lapsed a moment ago).
      await this.queue.release(receipt, this.opts.leaseSeconds);
      return 'held';
    }
    const lost = inProgress;
    if (!lost && !expired) return undefined;
    const message = lost
      ? 'The runner serving the request was lost, and no retry is left.'
      : START_TIMEOUT_MESSAGE;
    const done = await this.store.requests.complete(
      req.id,
      controlCompletion(lost ? 500 : 504, message, lost ? ERROR_TYPES.crash : 'request_timeout', null),
    );
    if (done) this.completed(done);
    return undefined;
  }

  /**
   * Completes queued requests whose x-fal-request-timeout passed before they started, without
   * waiting for a runner to receive them (there may be none: scaling, crash backoff). Their
   * messages are dropped when next received.
   */
  async expireStartDeadlines(): Promise<number> {
    const expired = await this.store.requests.expireStartDeadlines();
    for (const rec of expired) this.completed(rec);
    return expired.length;
  }

  async heartbeat(
    runner: Pick<RunnerRecord, 'id'>,
    receipts: string[],
    direct = false,
  ): Promise<HeartbeatResponse> {
    const lost: string[] = [];
    const held: { receipt: string; requestId: string }[] = [];
    for (const receipt of receipts) {
      const o = this.outstanding.get(receipt);
      // Another runner's delivery is not this one's to extend, and the answer must not tell it
      // apart from a receipt that does not exist.
      if (o && o.runnerId !== runner.id) {
        lost.push(receipt);
        continue;
      }
      // A direct runner extends its messages itself; control extends those it handed out.
      const ok = direct || (await this.queue.extend(receipt, this.opts.leaseSeconds));
      if (!ok) lost.push(receipt);
      else if (o) held.push({ receipt, requestId: o.requestId });
    }
    // The holder is alive and at work: a second delivery of these requests starts nothing.
    const extendable = receipts.filter((r) => !lost.includes(r));
    await this.store.requests.extendHolds(runner.id, extendable, this.holdMs());
    // The store, not the queue, says who holds a request: SQS accepts stale receipts silently.
    const holders = new Map(
      (await this.store.requests.attemptHolders(held.map((h) => h.requestId))).map((h) => [h.id, h]),
    );
    const cancel = new Set<string>();
    for (const h of held) {
      const rec = holders.get(h.requestId);
      if (rec?.status !== 'IN_PROGRESS' || rec.runner_id !== runner.id) lost.push(h.receipt);
      else if (rec.cancel_requested) cancel.add(h.requestId);
    }
    // Requests this control did not hand out itself (a runner of an earlier control process) are
    // known to the store only: their callers' cancels must reach the runner too.
    if (held.length < receipts.length) {
      for (const id of await this.store.requests.cancelRequestedFor(runner.id)) cancel.add(id);
    }
    // The runner lets go of lost receipts and never reports them: nor do we hold them for it.
    for (const r of lost) if (this.outstanding.get(r)?.runnerId === runner.id) this.outstanding.delete(r);
    const fresh = await this.store.runners.get(runner.id);
    return { cancel: [...cancel], lost, drain: !fresh || fresh.drain_requested };
  }

  /**
   * Records one attempt's result under fal's retry rules. `byControl`: control records it itself
   * (the runner is gone), so control settles the message whoever received it.
   */
  async recordResult(
    runner: Pick<RunnerRecord, 'id'> & { environment_id?: string },
    r: ResultBody,
    byControl = false,
  ): Promise<ResultResponse> {
    // Lines that came with the result are stored first: whoever sees COMPLETED sees them too. They
    // can only be this request's, in the runner's own environment.
    if (r.logs && r.logs.length > 0 && runner.environment_id) {
      await this.appendLogs(
        r.logs.map((l) => ({ ...l, request_id: r.request_id })),
        runner.environment_id,
        byControl ? undefined : runner.id,
      );
    }
    const handed = this.outstanding.get(r.receipt);
    // A receipt handed to another runner is not this one's to settle, nor to forget.
    const held = handed && (byControl || handed.runnerId === runner.id) ? handed : undefined;
    if (held) this.outstanding.delete(r.receipt);
    const foreignReceipt = handed !== undefined && held === undefined;
    const runnerSettles = r.direct === true && !byControl;
    /** The message is done with: the runner deletes it (direct), or control does. */
    const finish = async (): Promise<MessageAction> => {
      if (foreignReceipt) return 'none';
      if (runnerSettles) return 'delete';
      await this.queue.delete(r.receipt);
      return 'none';
    };
    const answer = (a: Omit<ResultResponse, 'message'>, message: MessageAction): ResultResponse =>
      r.direct ? { ...a, message } : a;

    if (r.outcome === 'timeout' && !byControl) {
      this.stopServing(runner.id);
      this.opts.onAttemptTimedOut?.(runner.id);
    }
    // Fast path: an answer that is never retried completes the request in one statement.
    if (
      r.outcome === 'response' &&
      r.status_code !== undefined &&
      r.status_code !== 503 &&
      r.status_code !== 504
    ) {
      // The embedded queue's message goes with the completing statement when control settles it.
      const stored = foreignReceipt || runnerSettles ? undefined : this.queue.storedMessage?.(r.receipt);
      const done = await this.store.requests.complete(r.request_id, responseCompletion(r), runner.id, stored);
      if (done) {
        // The caller waits for the record, not for the message: it is woken first.
        this.completed(done);
        const message = stored ? 'none' : await finish();
        return answer({ recorded: true, decision: 'completed' }, message);
      }
    }
    const req = await this.store.requests.get(r.request_id);
    if (!req || req.status === 'COMPLETED' || req.runner_id !== runner.id) {
      // A late or duplicate result: the request completed, or another runner owns it now (then
      // this receipt is stale and must not touch the message, which is someone else's). A request
      // that does not exist, or is another environment's, says nothing about the message the
      // receipt names: leave it (a stale message of our own is dropped when next received).
      const ours =
        req?.status === 'COMPLETED' &&
        (byControl || runner.environment_id === undefined || req.environment_id === runner.environment_id);
      const message = ours ? await finish() : 'none';
      return answer({ recorded: false, decision: 'ignored' }, message);
    }
    const verdict = judgeAttempt({
      outcome: r.outcome,
      statusCode: r.status_code,
      attempts: req.attempts,
      noRetry: req.no_retry || req.cancel_requested,
    });
    if (verdict.retry) {
      // Tied to this runner: if its lease lapsed and another runner took the request meanwhile,
      // this late verdict must not pull it back from under that runner.
      await this.store.requests.requeue(req.id, runner.id);
      // Control puts it back whoever received it, so there is one retry path for every queue.
      await this.queue.release(r.receipt, 0);
      // A retried answer (503, 504) has no fal error type: its status names it (bounded: two values).
      const why = verdict.errorType ?? (r.outcome === 'response' ? `http_${r.status_code}` : r.outcome);
      this.opts.onRetried?.(req.environment_id, why);
      this.changed({ ...req, status: 'IN_QUEUE', runner_id: null });
      return answer({ recorded: true, decision: 'retry' }, 'none');
    }
    const completion: Completion =
      r.outcome === 'response'
        ? responseCompletion(r, verdict.errorType)
        : controlCompletion(
            r.outcome === 'timeout' ? 504 : 500,
            r.error ?? r.outcome,
            verdict.errorType,
            inferenceMs(r),
          );
    if (verdict.exhausted) completion.dead_lettered = true;
    const done = await this.store.requests.complete(req.id, completion, runner.id);
    let message: MessageAction = 'none';
    if (done && verdict.exhausted) {
      await this.queue.deadLetter(held?.environmentId ?? req.environment_id, r.receipt, {
        request_id: req.id,
      });
    } else {
      message = await finish();
    }
    if (!done) return answer({ recorded: false, decision: 'ignored' }, message);
    this.completed(done);
    return answer({ recorded: true, decision: 'completed' }, message);
  }

  /**
   * A runner ended: whatever it still held is judged as a crashed attempt now, rather than waiting
   * for the lease to run out.
   */
  async runnerEnded(runnerId: string): Promise<void> {
    this.gateOpen.delete(runnerId);
    this.hints.forget(runnerId);
    this.retiring.delete(runnerId);
    const held = [...this.outstanding.entries()].filter(([, o]) => o.runnerId === runnerId);
    for (const [receipt, o] of held) {
      const now = new Date(this.now()).toISOString();
      await this.recordResult(
        { id: runnerId },
        {
          receipt,
          request_id: o.requestId,
          outcome: 'crash',
          error: 'The runner ended while serving the request.',
          started_at: now,
          finished_at: now,
          direct: o.direct,
        },
        true,
      );
    }
  }

  async cancel(req: RequestRecord): Promise<'CANCELLATION_REQUESTED' | 'ALREADY_COMPLETED'> {
    const was = await this.store.requests.cancel(req.id);
    if (was === 'COMPLETED' || was === undefined) return 'ALREADY_COMPLETED';
    if (was === 'IN_QUEUE') this.opts.onCompleted?.(req);
    this.changed(req);
    return 'CANCELLATION_REQUESTED';
  }

  /** These requests completed elsewhere (a queue flush): tell waiters, and send their webhooks. */
  notify(records: RequestRecord[]): void {
    for (const rec of records) this.completed(rec);
  }

  async appendLogs(
    logs: { request_id: string; message: string; level: string; source: string; timestamp: string }[],
    environmentId?: string,
    heldBy?: string,
  ): Promise<void> {
    await this.store.logs.append(logs, environmentId, heldBy);
    // null: "something changed, but no record comes with it" (waiters for completion ignore it).
    for (const id of new Set(logs.map((l) => l.request_id))) this.waiters.changed(id, null);
  }

  /** See RequestWaiters.waitForChange. */
  waitForChange(requestId: string, signal?: AbortSignal): Promise<RequestRecord | null | undefined> {
    return this.waiters.waitForChange(requestId, signal);
  }

  /** See RequestWaiters.waitForCompletion. */
  waitForCompletion(
    requestId: string,
    deadline: number,
    signal?: AbortSignal,
    known?: RequestRecord,
  ): Promise<RequestRecord> {
    return this.waiters.waitForCompletion(requestId, deadline, signal, known);
  }

  /**
   * The pull gate, asked of the store at most once a second per runner while it says "yes": under
   * steady load a runner pulls once per request, and a rollout's switch or a drain reaching it up
   * to a second later changes nothing that matters (a drained runner still finishes its work).
   */
  private async gate(runnerId: string): Promise<'yes' | 'not yet' | 'drain'> {
    const until = this.gateOpen.get(runnerId);
    if (until !== undefined && performance.now() < until) return 'yes';
    const answer = await this.store.runners.pullGate(runnerId);
    if (answer === 'yes') this.gateOpen.set(runnerId, performance.now() + GATE_CACHE_MS);
    else this.gateOpen.delete(runnerId);
    return answer;
  }

  /**
   * How long an attempt stays held past its start or its holder's last heartbeat: a third of a
   * lease short of the message's visibility, so a lost holder's message, seen again when its
   * visibility runs out, finds the hold lapsed and is retried at once; the holder's heartbeats
   * (a third of a lease apart) keep it.
   */
  private holdMs(): number {
    return (this.opts.leaseSeconds * 1000 * 2) / 3;
  }

  /** Whether this runner holds this request now, as control handed it out (its event stream may come in). */
  holds(runnerId: string, requestId: string): boolean {
    for (const o of this.outstanding.values()) {
      if (o.runnerId === runnerId && o.requestId === requestId) return true;
    }
    return false;
  }

  /** Requests each runner holds right now, as control handed them out (authoritative, unlike reports). */
  inFlightByRunner(): Map<string, number> {
    const out = new Map<string, number>();
    for (const o of this.outstanding.values()) out.set(o.runnerId, (out.get(o.runnerId) ?? 0) + 1);
    return out;
  }

  private changed(rec: RequestRecord): void {
    this.waiters.changed(rec.id, rec);
  }

  private completed(rec: RequestRecord): void {
    this.changed(rec);
    this.opts.onCompleted?.(rec);
  }
}
