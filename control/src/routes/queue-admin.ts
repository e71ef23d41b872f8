/**
 * An environment's queue seen from management: its size, and a flush that cancels every request
 * still waiting. A flushed request completes as cancelled, exactly as a caller's own cancel does,
 * so its callers see it end; requests already running are left to finish.
 */
import type { FastifyInstance } from 'fastify';
import { EnvParams, FlushView, QueueView } from '../../../contract/src/management-api.ts';
import type { RequestService } from '../request-service.ts';
import type { Scaler } from '../scaling/scaler.ts';
import type { Store } from '../store/store.ts';
import { appLoaders } from './load-app.ts';
import { iso } from './management.ts';

const TAGS = ['management v1'];

export function registerQueueAdminRoutes(
  app: FastifyInstance,
  d: { store: Store; requests: RequestService; scaler: Scaler },
): void {
  const { loadEnv } = appLoaders(d.store);

  app.get(
    '/v1/apps/:owner/:name/environments/:env/queue',
    {
      schema: {
        tags: TAGS,
        summary: 'Queue size: requests waiting and running',
        params: EnvParams,
        response: { 200: QueueView },
      },
    },
    async (req) => {
      const { env } = await loadEnv(req);
      const c = await d.store.requests.counts(env.id);
      return {
        environment: env.name,
        queued: c.queued,
        in_progress: c.inProgress,
        oldest_queued_at: iso(c.oldestQueuedAt),
      };
    },
  );

  app.delete(
    '/v1/apps/:owner/:name/environments/:env/queue',
    {
      schema: {
        tags: TAGS,
        summary: 'Flush: cancel every queued request (running ones finish)',
        params: EnvParams,
        response: { 200: FlushView },
      },
    },
    async (req) => {
      const { env } = await loadEnv(req);
      const cancelled = await d.store.requests.cancelQueued(env.id);
      d.requests.notify(cancelled);
      void d.scaler.reconcile(env.id);
      return { environment: env.name, cancelled: cancelled.length };
    },
  );
}
