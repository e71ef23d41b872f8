/** What an environment is doing: its scaling settings, runners, recent requests and dead letters. */
import {
  DeadLetterList,
  EnvParams,
  LimitQuery,
  RequestList,
  RunnerList,
  RunnersQuery,
  ScalingPatch,
  ScalingView,
} from '../../../contract/src/management-api.ts';
import { mergeRuntimeSettings } from '../../../contract/src/scaling-settings.ts';
import type { Activity } from '../events/activity.ts';
import type { QueueDriver } from '../queue/queue-driver.ts';
import type { Scaler } from '../scaling/scaler.ts';
import type { Store } from '../store/store.ts';
import { appLoaders } from './load-app.ts';
import { TAGS, type V1Scope } from './v1.ts';
import { requestView, runnerView } from './views.ts';

export function registerEnvironmentStateRoutes(
  app: V1Scope,
  d: { store: Store; queue: QueueDriver; scaler: Scaler; clock?: () => number; activity?: Activity },
): void {
  const { store } = d;
  const { loadEnv } = appLoaders(store);

  app.get(
    '/apps/:owner/:name/environments/:env/scaling',
    {
      schema: {
        tags: TAGS,
        summary: 'Runtime scaling settings',
        params: EnvParams,
        response: { 200: ScalingView },
      },
    },
    async (req) => (await loadEnv(req)).env.scaling,
  );

  app.patch(
    '/apps/:owner/:name/environments/:env/scaling',
    {
      schema: {
        tags: TAGS,
        summary: 'Change runtime scaling settings; kept across deploys',
        params: EnvParams,
        body: ScalingPatch,
        response: { 200: ScalingView },
      },
    },
    async (req) => {
      const { env } = await loadEnv(req);
      const next = mergeRuntimeSettings(env.scaling, req.body as Record<string, unknown>);
      await store.apps.setScaling(env.id, next);
      d.activity?.scalingChanged(env.id, env.scaling, next);
      await d.scaler.reconcile(env.id);
      return next;
    },
  );

  app.get(
    '/apps/:owner/:name/environments/:env/runners',
    {
      schema: {
        tags: TAGS,
        summary: 'Runners: current ones and those that ended within the window',
        params: EnvParams,
        querystring: RunnersQuery,
        response: { 200: RunnerList },
      },
    },
    async (req) => {
      const { env } = await loadEnv(req);
      const { ended_within_hours = 24 } = req.query;
      const now = (d.clock ?? Date.now)();
      const runners = await store.runners.list(env.id, now - ended_within_hours * 3_600_000);
      const numbers = new Map((await store.revisions.list(env.id)).map((r) => [r.id, r.number]));
      return { runners: runners.map((r) => runnerView(r, numbers)) };
    },
  );

  app.get(
    '/apps/:owner/:name/environments/:env/requests',
    {
      schema: {
        tags: TAGS,
        summary: 'Recent requests, newest first',
        params: EnvParams,
        querystring: LimitQuery,
        response: { 200: RequestList },
      },
    },
    async (req) => {
      const { env } = await loadEnv(req);
      const { limit = 100 } = req.query;
      return { requests: (await store.requests.list(env.id, limit)).map(requestView) };
    },
  );

  app.get(
    '/apps/:owner/:name/environments/:env/dead-letters',
    {
      schema: {
        tags: TAGS,
        summary: 'Requests that ran out of attempts, and the dead-letter queue holding their messages',
        params: EnvParams,
        querystring: LimitQuery,
        response: { 200: DeadLetterList },
      },
    },
    async (req) => {
      const { env } = await loadEnv(req);
      const { limit = 100 } = req.query;
      const depth = await d.queue.depth(env.id);
      return {
        dead_letter_queue_depth: depth.deadLettered,
        requests: (await store.requests.listDeadLettered(env.id, limit)).map(requestView),
      };
    },
  );
}
