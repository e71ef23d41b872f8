/**
 * One request as an operator looks at it: status, timings, the input it was called with and the
 * result it got (`GET …/environments/{env}/requests/{request_id}`, admin only).
 */
import type { FastifyInstance } from 'fastify';
import { Type } from 'typebox';
import { RequestDetail } from '../../../contract/src/console-api.ts';
import { GantryError } from '../../../contract/src/errors.ts';
import { EnvParams } from '../../../contract/src/management-api.ts';
import { inputValue, resultValue } from '../kept-bodies.ts';
import type { Store } from '../store/store.ts';
import { appLoaders } from './load-app.ts';
import { requestView } from './views.ts';

export function registerRequestDetailRoute(app: FastifyInstance, d: { store: Store }): void {
  const { loadEnv } = appLoaders(d.store);
  app.get(
    '/apps/:owner/:name/environments/:env/requests/:request_id',
    {
      schema: {
        tags: ['management v1'],
        summary: 'One request with its input and result',
        params: Type.Object({ ...EnvParams.properties, request_id: Type.String() }),
        response: { 200: RequestDetail },
      },
    },
    async (req) => {
      const { app: a, env } = await loadEnv(req);
      const { request_id } = req.params as { request_id: string };
      const rec = await d.store.requests.get(request_id);
      if (!rec || rec.environment_id !== env.id) {
        throw new GantryError(
          'GANTRY_ERR_REQUEST_NOT_FOUND',
          `No request ${request_id} in ${a.owner}/${a.name} ${env.name}.`,
        );
      }
      return {
        ...requestView(rec),
        input: inputValue(rec),
        result: resultValue(rec),
        result_content_type: rec.result_content_type,
      };
    },
  );
}
