/**
 * `GET /metrics` in Prometheus text format, and the hook that times every HTTP request control
 * serves. With GANTRY_METRICS_TOKEN set, a scrape needs `Authorization: Bearer <token>` (or an
 * ADMIN key, which is always accepted); unset, anyone who can reach control may scrape.
 */
import { timingSafeEqual } from 'node:crypto';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { GantryError } from '../../../contract/src/errors.ts';
import { identify, keyFromHeader } from '../auth.ts';
import type { Store } from '../store/store.ts';
import type { ControlMetrics } from './control-metrics.ts';

const same = (a: string, b: string) => {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
};

export function registerMetricsRoutes(
  app: FastifyInstance,
  d: { store: Store; metrics: ControlMetrics; token: string | undefined },
): void {
  const { metrics } = d;

  app.addHook('onResponse', async (req, reply) => {
    metrics.http.observe(
      {
        method: req.method,
        // The route pattern (`/queue/:owner/:app`), never the URL: ids would make labels unbounded.
        route: req.routeOptions.url ?? 'unmatched',
        status: `${Math.floor(reply.statusCode / 100)}xx`,
      },
      reply.elapsedTime / 1000,
    );
  });

  async function allowed(req: FastifyRequest): Promise<boolean> {
    if (!d.token) return true;
    const sent = keyFromHeader(req.headers.authorization);
    if (sent && same(sent, d.token)) return true;
    return (await identify(d.store, req))?.scope === 'ADMIN';
  }

  app.get(
    '/metrics',
    { schema: { tags: ['metrics'], summary: 'Prometheus metrics (text format)' } },
    async (req, reply) => {
      if (!(await allowed(req))) {
        throw new GantryError(
          'GANTRY_ERR_UNAUTHORIZED',
          'Scraping /metrics needs `Authorization: Bearer <GANTRY_METRICS_TOKEN>` or an ADMIN key.',
        );
      }
      const text = await metrics.text();
      return reply.type(metrics.contentType).header('cache-control', 'no-store').send(text);
    },
  );
}
