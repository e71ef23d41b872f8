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
} from '../../../contract/src/runner-protocol.ts';
import { ENDED_RUNNER_STATES, type RunnerRecord } from '../domain.ts';
import type { Activity } from '../events/activity.ts';
import type { RequestService } from '../request-service.ts';
import { hashToken, type Scaler } from '../scaling/scaler.ts';
import type { Store } from '../store/store.ts';

const Params = Type.Object({ id: Type.String() });
const TAGS = ['runner protocol (internal)'];
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

export function registerRunnerRoutes(
  app: FastifyInstance,
  d: {
    store: Store;
    requests: RequestService;
    scaler: Scaler;
    activity?: Activity;
  },
): void {
  // A runner's id, environment and token never change: remember them rather than read them on
  // every call of the hot path. Routes that need mutable fields read the record themselves. A runner
  // that ends leaves the cache at once (onEnded), so its next call reads the record and is refused.
  const known = new Map<string, Pick<RunnerRecord, 'id' | 'environment_id'> & { token_hash: string }>();
  d.store.runners.onEnded((id) => known.delete(id));

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
        if (state === 'IDLE' && updated?.ready_at !== null) d.scaler.runnerReady(runner.environment_id);
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

  app.post(
    RUNNER_ROUTES.result,
    { schema: { tags: TAGS, params: Params, body: ResultBody, response: { 200: ResultResponse } } },
    async (req) => {
      const runner = await auth(req, 'allow');
      return d.requests.recordResult(runner, req.body as ResultBody);
    },
  );
}
