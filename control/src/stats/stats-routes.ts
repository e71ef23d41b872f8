/**
 * The figures behind the console's sparklines and cost page, under the management API:
 * `GET …/environments/{env}/series` (the last hour, minute by minute) and `GET /v1/cost`
 * (runner-seconds by day and machine type).
 */

import type { FastifyInstance } from 'fastify';
import type { Static } from 'typebox';
import { CostQuery, CostView, SeriesQuery, SeriesView } from '../../../contract/src/console-api.ts';
import { EnvParams } from '../../../contract/src/management-api.ts';
import { appLoaders } from '../routes/load-app.ts';
import { iso } from '../routes/views.ts';
import type { Store } from '../store/store.ts';
import { runnerSecondsByDay, StatsStore } from './stats-store.ts';

const TAGS = ['management v1'];
export function registerStatsRoutes(app: FastifyInstance, d: { store: Store; clock?: () => number }): void {
  const stats = new StatsStore(d.store.db);
  const { loadEnv } = appLoaders(d.store);
  const now = d.clock ?? Date.now;

  app.get(
    '/apps/:owner/:name/environments/:env/series',
    {
      schema: {
        tags: TAGS,
        summary: 'Requests, queue depth and latency of the environment, minute by minute',
        params: EnvParams,
        querystring: SeriesQuery,
        response: { 200: SeriesView },
      },
    },
    async (req) => {
      const { env } = await loadEnv(req);
      const { minutes = 60 } = req.query as Static<typeof SeriesQuery>;
      const rows = await stats.lastMinutes(env.id, now(), minutes);
      return { minutes: rows.map((m) => ({ ...m, at: iso(m.at)! })) };
    },
  );

  app.get(
    '/cost',
    {
      schema: {
        tags: TAGS,
        summary: 'Runner-seconds by UTC day, machine type, app and environment',
        querystring: CostQuery,
        response: { 200: CostView },
      },
    },
    async (req) => {
      const { days = 14 } = req.query as Static<typeof CostQuery>;
      const t = now();
      const from = Math.floor(t / 86_400_000) * 86_400_000 - (days - 1) * 86_400_000;
      return { days: runnerSecondsByDay(await stats.runnerSpans(from, t)) };
    },
  );
}
