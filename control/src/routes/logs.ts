/**
 * Logs for the CLI: one request's lines, and every request's lines of an environment with a long
 * poll (`wait_ms`) so `gantry logs --follow` sees new lines as they arrive without holding a
 * stream open through proxies.
 */
import type { FastifyInstance } from 'fastify';
import type { Static } from 'typebox';
import { GantryError } from '../../../contract/src/errors.ts';
import {
  EnvLogs,
  EnvLogsQuery,
  EnvParams,
  RequestLogs,
  RequestLogsQuery,
  RequestParams,
} from '../../../contract/src/management-api.ts';
import type { Store } from '../store/store.ts';
import { appLoaders } from './load-app.ts';

const TAGS = ['management v1'];
const POLL_MS = 250;

export function registerLogRoutes(app: FastifyInstance, d: { store: Store }): void {
  const { store } = d;
  const { loadEnv } = appLoaders(store);

  app.get(
    '/v1/apps/:owner/:name/environments/:env/requests/:request_id/logs',
    {
      schema: {
        tags: TAGS,
        summary: "A request's log lines, oldest first",
        params: RequestParams,
        querystring: RequestLogsQuery,
        response: { 200: RequestLogs },
      },
    },
    async (req) => {
      const { app: a, env } = await loadEnv(req);
      const { request_id } = req.params as { request_id: string };
      const rec = await store.requests.get(request_id);
      if (!rec || rec.environment_id !== env.id) {
        const recent = (await store.requests.list(env.id, 5)).map((r) => r.id);
        throw new GantryError(
          'GANTRY_ERR_REQUEST_NOT_FOUND',
          `No request ${request_id} in ${a.owner}/${a.name} ${env.name} (latest: ${recent.join(', ') || 'none'}).`,
        );
      }
      const { after = 0 } = req.query as Static<typeof RequestLogsQuery>;
      const logs = await store.logs.forRequest(rec.id, after);
      return {
        request_id: rec.id,
        status: rec.status,
        logs: logs.map((l) => ({ ...l, request_id: rec.id })),
      };
    },
  );

  app.get(
    '/v1/apps/:owner/:name/environments/:env/logs',
    {
      schema: {
        tags: TAGS,
        summary: 'Log lines of every request of the environment; long-polls with `after` and `wait_ms`',
        params: EnvParams,
        querystring: EnvLogsQuery,
        response: { 200: EnvLogs },
      },
    },
    async (req, reply) => {
      const { env } = await loadEnv(req);
      const { after, limit = 200, wait_ms = 0 } = req.query as Static<typeof EnvLogsQuery>;
      if (after === undefined) {
        const logs = await store.logs.forEnvironment(env.id, 0, limit);
        return { logs, next: Math.max(await store.logs.lastSeq(), ...logs.map((l) => l.seq)) };
      }
      const gone = new AbortController();
      const onClose = () => gone.abort();
      reply.raw.on('close', onClose);
      try {
        const deadline = Date.now() + wait_ms;
        for (;;) {
          const logs = await store.logs.forEnvironment(env.id, after, limit);
          if (logs.length > 0) return { logs, next: logs[logs.length - 1]!.seq };
          if (Date.now() >= deadline || gone.signal.aborted) return { logs, next: after };
          await new Promise((r) => setTimeout(r, Math.min(POLL_MS, deadline - Date.now())));
        }
      } finally {
        reply.raw.off('close', onClose);
      }
    },
  );
}
