/**
 * `GET /v1/apps/{owner}/{name}/environments/{env}/events`: the environment's events as JSON with a
 * cursor (`after`, answered with `next`), or, with `follow=true`, as server-sent events that stay
 * open (each event's `id:` is its cursor, so a reconnecting EventSource resumes where it was).
 */
import type { FastifyInstance } from 'fastify';
import type { Static } from 'typebox';
import { EnvParams, EventList, EventsQuery, type EventView } from '../../../contract/src/management-api.ts';
import { appLoaders } from '../routes/load-app.ts';
import { iso } from '../routes/views.ts';
import type { EventRecord } from '../store/events-store.ts';
import type { Store } from '../store/store.ts';
import type { EventLog } from './event-log.ts';

/** How often a follower looks for events written by another control process. */
const FOLLOW_POLL_MS = 2_000;
const KEEPALIVE_MS = 15_000;

const view = (e: EventRecord): EventView => ({
  seq: e.seq,
  at: iso(e.at)!,
  type: e.type,
  message: e.message,
  runner_id: e.runner_id,
  revision: e.revision,
  data: e.data,
});

export function registerEventRoutes(app: FastifyInstance, d: { store: Store; events: EventLog }): void {
  const { loadEnv } = appLoaders(d.store);
  app.get(
    '/apps/:owner/:name/environments/:env/events',
    {
      schema: {
        tags: ['management v1'],
        summary:
          'What happened to the environment (runners, rollouts, deploys, scaling, crash loops, dead letters); `follow=true` streams it (SSE)',
        params: EnvParams,
        querystring: EventsQuery,
        response: { 200: EventList },
      },
    },
    async (req, reply) => {
      const { env } = await loadEnv(req);
      const q = req.query as Static<typeof EventsQuery>;
      const limit = q.limit ?? 100;
      if (!q.follow) {
        const events = await d.events.list(env.id, q.after, limit);
        return { events: events.map(view), next: events.at(-1)?.seq ?? q.after ?? 0 };
      }
      // A reconnecting EventSource sends the id of the last event it got.
      const resume = Number(req.headers['last-event-id']);
      let cursor = Number.isSafeInteger(resume) && resume >= 0 ? resume : q.after;
      if (cursor === undefined) cursor = (await d.events.list(env.id, undefined, 1)).at(-1)?.seq ?? 0;
      const gone = new AbortController();
      reply.raw.on('close', () => gone.abort());
      reply.hijack();
      reply.raw.writeHead(200, {
        'content-type': 'text/event-stream',
        'cache-control': 'no-cache',
        connection: 'keep-alive',
      });
      // Tells the client how long to wait before reconnecting after a drop.
      reply.raw.write('retry: 2000\n\n');
      let lastWrite = Date.now();
      try {
        while (!gone.signal.aborted) {
          const changed = d.events.changed(env.id, gone.signal, FOLLOW_POLL_MS);
          const events = await d.events.list(env.id, cursor, limit);
          for (const e of events) {
            reply.raw.write(`id: ${e.seq}\ndata: ${JSON.stringify(view(e))}\n\n`);
            cursor = e.seq;
            lastWrite = Date.now();
          }
          if (events.length === limit) continue;
          if (Date.now() - lastWrite >= KEEPALIVE_MS) {
            reply.raw.write(': keep-alive\n\n');
            lastWrite = Date.now();
          }
          await changed;
        }
      } finally {
        reply.raw.end();
      }
    },
  );
}
