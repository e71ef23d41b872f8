/**
 * The runner protocol's server side. Each runner authenticates with its own bearer token (only
 * the hash is stored), so a runner can act only as itself.
 */
import { timingSafeEqual } from 'node:crypto';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { Type } from 'typebox';
import { GantryError } from '../../../contract/src/errors.ts';
import {
  ClaimBody,
  ClaimResponse,
  HeartbeatBody,
  HeartbeatResponse,
  LogsBody,
  PullRequestBody,
  PullResponse,
  ResultBody,
  ResultResponse,
  RUNNER_ROUTES,
  StateReport,
  type StreamResponse,
} from '../../../contract/src/runner-protocol.ts';
import { ENDED_RUNNER_STATES, type RunnerRecord } from '../domain.ts';
import type { Activity } from '../events/activity.ts';
import type { RequestService } from '../request-service.ts';
import { hashToken, type Scaler } from '../scaling/scaler.ts';
import type { Store } from '../store/store.ts';
import type { EventRelays } from '../streaming/event-relay.ts';

const Params = Type.Object({ id: Type.String() });
const TAGS = ['runner protocol (internal)'];
/** How often a runner's calls refresh its seen_at (lost-runner detection needs a minute's accuracy). */
const SEEN_EVERY_MS = 5_000;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

export function registerRunnerRoutes(
  app: FastifyInstance,
  d: {
    store: Store;
    requests: RequestService;
    scaler: Scaler;
    activity?: Activity;
    relays: EventRelays;
  },
): void {
  // A runner's id, environment and token never change: remember them rather than read them on
  // every call of the hot path. Routes that need mutable fields read the record themselves. A runner
  // that ends leaves the cache at once (onEnded), so its next call reads the record and is refused.
  const known = new Map<string, Pick<RunnerRecord, 'id' | 'environment_id'> & { token_hash: string }>();
  d.store.runners.onEnded((id) => known.delete(id));
  // When each runner was last recorded as seen (by this process): once per SEEN_EVERY_MS at most.
  const seenAt = new Map<string, number>();
  d.store.runners.onEnded((id) => seenAt.delete(id));
  const markSeen = (id: string) => {
    const now = performance.now();
    if ((seenAt.get(id) ?? -Infinity) > now - SEEN_EVERY_MS) return;
    seenAt.set(id, now);
    d.store.runners.seen(id).catch((err: unknown) => logSeenFailure(err, id));
  };
  const logSeenFailure = (err: unknown, id: string) =>
    app.log.warn({ err, runner: id }, 'recording that a runner was seen failed');

  /**
   * `ended`: what to do with a runner that has ended. Only `heartbeat` and `results` take it, so a
   * runner that control ended on a restart can finish what it holds; they act only on requests
   * the store says it holds.
   */
  async function auth(
    req: FastifyRequest,
    ended: 'refuse' | 'allow' = 'refuse',
  ): Promise<Pick<RunnerRecord, 'id' | 'environment_id'>> {
    const { id } = req.params as { id: string };
    const m = /^Bearer\s+(\S+)$/i.exec(req.headers.authorization ?? '');
    if (!m) throw new GantryError('GANTRY_ERR_UNAUTHORIZED', 'Missing runner token.');
    let runner = known.get(id);
    let hasEnded = false;
    if (!runner) {
      // Not a runner id at all (control makes UUIDs): no store read for it.
      const rec = UUID.test(id) ? await d.store.runners.get(id) : undefined;
      if (rec) {
        runner = { id: rec.id, environment_id: rec.environment_id, token_hash: rec.token_hash };
        hasEnded = ENDED_RUNNER_STATES.includes(rec.state);
        if (!hasEnded) known.set(id, runner);
      }
    }
    if (!runner) throw new GantryError('GANTRY_ERR_UNAUTHORIZED', 'Unknown runner or missing runner token.');
    const a = Buffer.from(hashToken(m[1]!));
    const b = Buffer.from(runner.token_hash);
    if (a.length !== b.length || !timingSafeEqual(a, b)) {
      throw new GantryError('GANTRY_ERR_UNAUTHORIZED', 'Wrong runner token.');
    }
    if (hasEnded && ended === 'refuse') throw new GantryError('GANTRY_ERR_RUNNER_ENDED');
    if (!hasEnded) markSeen(runner.id);
    return runner;
  }

  app.post(
    RUNNER_ROUTES.state,
    { schema: { tags: TAGS, params: Params, body: StateReport, response: { 204: Type.Null() } } },
    async (req, reply) => {
      const { id } = await auth(req);
      const body = req.body as StateReport;
      const runner = await d.store.runners.get(id);
      // Its app was deleted meanwhile: nothing to record; its next pull tells it to drain.
      if (!runner) return reply.code(204).send();
      let state = body.state;
      // A runner draining on its own (SIGTERM from the platform) takes no more work either, and its
      // waiting pull is answered at once so it can go.
      if (state === 'DRAINING') {
        if (!runner.drain_requested) await d.store.runners.requestDrain(runner.id);
        d.requests.stopServing(runner.id);
      }
      // Once control asked a runner to drain, it stays DRAINING until it ends.
      if (runner.drain_requested && (state === 'IDLE' || state === 'RUNNING')) state = 'DRAINING';
      // A runner that ends before it was ever ready failed to start: that is a crash, and backs off.
      if (state === 'TERMINATED' && runner.ready_at === null && !runner.drain_requested) {
        d.activity?.runnerChanged(
          await d.store.runners.setState(runner.id, 'CRASH_BACKOFF', {
            in_flight: 0,
            detail: body.detail ?? null,
          }),
        );
      } else {
        const updated = await d.store.runners.setState(runner.id, state, {
          ...(body.in_flight !== undefined ? { in_flight: body.in_flight } : {}),
          ...(body.detail !== undefined ? { detail: body.detail } : {}),
        });
        d.activity?.runnerChanged(updated);
        if (state === 'IDLE' && updated?.ready_at !== null) await d.scaler.runnerReady(runner.environment_id);
        // First ready: a rollout waiting on this runner (the deploy gate) switches now, not at the tick.
        if (state === 'IDLE' && runner.ready_at === null) void d.scaler.reconcile(runner.environment_id);
        // A runner gone may need replacing now; idleness is the tick's business (keep_alive).
        if (state === 'TERMINATED') void d.scaler.reconcile(runner.environment_id);
      }
      return reply.code(204).send();
    },
  );

  app.post(
    RUNNER_ROUTES.pull,
    { schema: { tags: TAGS, params: Params, body: PullRequestBody, response: { 200: PullResponse } } },
    async (req, reply) => {
      const runner = await auth(req);
      const body = req.body as PullRequestBody;
      const gone = new AbortController();
      const onClose = () => gone.abort();
      reply.raw.on('close', onClose);
      try {
        return await d.requests.pull(runner, body.max, body.wait_ms, gone.signal);
      } finally {
        reply.raw.off('close', onClose);
      }
    },
  );

  app.post(
    RUNNER_ROUTES.heartbeat,
    { schema: { tags: TAGS, params: Params, body: HeartbeatBody, response: { 200: HeartbeatResponse } } },
    async (req) => {
      const runner = await auth(req, 'allow');
      const body = req.body as HeartbeatBody;
      return d.requests.heartbeat(runner, body.receipts, body.direct === true);
    },
  );

  app.post(
    RUNNER_ROUTES.logs,
    { schema: { tags: TAGS, params: Params, body: LogsBody, response: { 204: Type.Null() } } },
    async (req, reply) => {
      const runner = await auth(req);
      const { logs } = req.body as LogsBody;
      const own = logs.filter(
        (l): l is typeof l & { request_id: string } => typeof l.request_id === 'string',
      );
      await d.requests.appendLogs(own, runner.environment_id);
      // Lines of no request are the app's setup, startup or crash output: kept with the runner's id.
      const unowned = logs.filter((l) => typeof l.request_id !== 'string');
      await d.store.runnerLogs.append(runner.id, runner.environment_id, unowned);
      return reply.code(204).send();
    },
  );

  app.post(
    RUNNER_ROUTES.claim,
    { schema: { tags: TAGS, params: Params, body: ClaimBody, response: { 200: ClaimResponse } } },
    async (req) => {
      const runner = await auth(req);
      const body = req.body as ClaimBody;
      return d.requests.claim(runner, body.receipt, body.request_id);
    },
  );

  // An app's server-sent events, relayed while it streams: the body is read as it arrives.
  void app.register(async (scope) => {
    scope.addContentTypeParser('text/event-stream', (_req, payload, done) => done(null, payload));
    scope.post(
      RUNNER_ROUTES.stream,
      {
        schema: {
          tags: TAGS,
          summary: "An app's event stream for one request, relayed to its caller as it arrives",
          params: Type.Object({ id: Type.String(), request_id: Type.String() }),
        },
      },
      async (req, reply) => {
        const runner = await auth(req);
        const { request_id } = req.params as { request_id: string };
        // Only the runner serving the request may speak for it.
        if (!d.requests.holds(runner.id, request_id)) {
          throw new GantryError(
            'GANTRY_ERR_REQUEST_NOT_FOUND',
            `Runner ${runner.id} does not hold ${request_id}.`,
          );
        }
        const relay = d.relays.open(request_id);
        const reading = (async () => {
          try {
            for await (const chunk of req.body as AsyncIterable<Buffer>) relay.push(chunk);
          } finally {
            relay.end();
          }
        })();
        const how = await Promise.race([
          reading.then(() => 'ended' as const),
          relay.abandoned.then(() => 'abandoned' as const),
        ]);
        if (how === 'ended') return reply.code(204).send();
        // The caller hung up: the runner hears it now rather than at its next heartbeat, and
        // cancels at the app; what it still sends is read and dropped.
        reading.catch(() => {});
        return reply.code(200).send({ cancel: true } satisfies StreamResponse);
      },
    );
  });

  app.post(
    RUNNER_ROUTES.result,
    { schema: { tags: TAGS, params: Params, body: ResultBody, response: { 200: ResultResponse } } },
    async (req) => {
      const runner = await auth(req, 'allow');
      return d.requests.recordResult(runner, req.body as ResultBody);
    },
  );
}
