/**
 * Stopping one runner by hand: stop drains it (it finishes what it holds, then exits), kill ends it
 * at once (what it held is retried under fal's rules). The autoscaler starts a replacement if the
 * environment still needs one.
 */
import type { FastifyInstance } from 'fastify';
import { GantryError } from '../../../contract/src/errors.ts';
import { RunnerParams as Params, RunnerView } from '../../../contract/src/management-api.ts';
import { ENDED_RUNNER_STATES } from '../domain.ts';
import type { Scaler } from '../scaling/scaler.ts';
import type { Store } from '../store/store.ts';
import { appLoaders } from './load-app.ts';
import { runnerView } from './management.ts';

const TAGS = ['management v1'];

export function registerRunnerActionRoutes(app: FastifyInstance, d: { store: Store; scaler: Scaler }): void {
  const { loadEnv } = appLoaders(d.store);

  for (const action of ['stop', 'kill'] as const) {
    app.post(
      `/v1/apps/:owner/:name/environments/:env/runners/:runner/${action}`,
      {
        schema: {
          tags: TAGS,
          summary: action === 'stop' ? 'Drain a runner, then stop it' : 'Kill a runner at once',
          description: 'The runner is named by its id or a unique prefix of it.',
          params: Params,
          response: { 200: RunnerView },
        },
      },
      async (req) => {
        const { env } = await loadEnv(req);
        const wanted = (req.params as { runner: string }).runner;
        const runners = await d.store.runners.list(env.id);
        const matches = runners.filter(
          (r) => r.id === wanted || (wanted.length >= 4 && r.id.startsWith(wanted)),
        );
        const live = runners.filter((r) => !ENDED_RUNNER_STATES.includes(r.state));
        if (matches.length !== 1) {
          throw new GantryError(
            'GANTRY_ERR_RUNNER_NOT_FOUND',
            `${matches.length > 1 ? `Runner id ${wanted} is ambiguous` : `No runner ${wanted} in ${env.name}`} ` +
              `(running: ${live.map((r) => r.id).join(', ') || 'none'}).`,
          );
        }
        const runner = matches[0]!;
        if (!ENDED_RUNNER_STATES.includes(runner.state)) {
          if (action === 'stop') await d.scaler.drain(runner.id);
          else await d.scaler.kill(runner.id);
        }
        const numbers = new Map((await d.store.revisions.list(env.id)).map((r) => [r.id, r.number]));
        return runnerView((await d.store.runners.get(runner.id)) ?? runner, numbers);
      },
    );
  }
}
