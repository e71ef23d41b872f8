/**
 * `gantry deploy`: from a local folder, create the app when missing, register a revision with the
 * folder's command, make it active, and follow its runners until one is ready (or failed).
 */

import { setTimeout as sleep } from 'node:timers/promises';
import { ControlApiError } from '../../../contract/src/control-client.ts';
import type { AppView, AuthMode } from '../../../contract/src/management-api.ts';
import { type Command, ENV_OPTION } from '../command.ts';
import { loadDeployConfig } from '../deploy-config.ts';
import { CliError, EXIT, usageError } from '../exit-codes.ts';
import { createProgress } from '../progress.ts';
import { AUTH_MODES } from './apps.ts';
import { parseStrategy, STRATEGY_OPTION } from './revisions.ts';

const POLL_MS = 300;
/** How long to look for a first runner before concluding the environment is scaled to zero. */
const FIRST_RUNNER_GRACE_MS = 2_000;
const str = (v: unknown) => (typeof v === 'string' ? v : undefined);

export const deployCommand: Command = {
  words: ['deploy'],
  summary: 'Deploy a local folder as a new revision and follow it until live',
  usage:
    '[folder] [--app owner/name] [--env E] [--command CMD] [--auth MODE] [--message M] [--strategy S] [--no-wait]',
  examples: [
    'gantry deploy ./my-app',
    'gantry deploy . --app acme/echo --command "node server.js" --env staging',
  ],
  options: {
    app: { type: 'string', value: 'owner/name', help: 'App to deploy to (else "app" in gantry.json).' },
    ...ENV_OPTION,
    command: {
      type: 'string',
      value: 'cmd',
      help: 'Command that starts the app (else "command" in gantry.json).',
    },
    auth: { type: 'string', value: 'mode', help: 'Auth mode: private, public or shared (set on the app).' },
    message: { type: 'string', short: 'm', value: 'text', help: 'Note kept with the revision.' },
    strategy: STRATEGY_OPTION(
      'rolling: the new revision takes over once healthy, the old one serves until then (default while runners are live); recreate: switch at once.',
    ),
    'reset-scale': {
      type: 'boolean',
      help: 'Apply "scaling" from gantry.json to an existing app too (a new app always gets it).',
    },
    'no-wait': {
      type: 'boolean',
      help: 'Return once the revision is active, without following its runners.',
    },
    timeout: { type: 'string', value: 'seconds', help: 'How long to wait for a ready runner (default 300).' },
  },
  args: { min: 0, max: 1 },
  async run(ctx, a) {
    const cfg = await loadDeployConfig(a.positionals[0] ?? '.', {
      app: str(a.values.app),
      env: str(a.values.env),
      command: str(a.values.command),
      auth: str(a.values.auth),
    });
    if (cfg.authMode && !AUTH_MODES.includes(cfg.authMode)) {
      throw usageError(`The auth mode must be one of ${AUTH_MODES.join(', ')}, got "${cfg.authMode}".`);
    }
    const strategy = parseStrategy(a.values.strategy);
    const timeoutS = Number(str(a.values.timeout) ?? 300);
    if (!Number.isFinite(timeoutS) || timeoutS <= 0)
      throw usageError('--timeout must be a number of seconds.');
    const { app: ref } = cfg;
    const id = `${ref.owner}/${ref.name}`;
    const api = await ctx.api();
    const progress = createProgress({ quiet: ctx.out.json });

    let created = false;
    let app: AppView;
    try {
      app = await api.getApp(ref);
      if (cfg.authMode && app.auth_mode !== cfg.authMode) {
        app = await api.patchApp(ref, { auth_mode: cfg.authMode as AuthMode });
      }
    } catch (err) {
      if (!(err instanceof ControlApiError && err.code === 'GANTRY_ERR_APP_NOT_FOUND')) throw err;
      app = await api.createApp({
        owner: ref.owner,
        name: ref.name,
        auth_mode: (cfg.authMode ?? 'private') as AuthMode,
      });
      created = true;
      progress.update(`Created ${id} (${app.auth_mode})`);
    }
    if (ref.env !== 'production') {
      await api.createEnvironment(ref, { name: ref.env }).catch((err: unknown) => {
        if (!(err instanceof ControlApiError && err.code === 'GANTRY_ERR_ENVIRONMENT_EXISTS')) throw err;
      });
    }
    // Scaling is kept across deploys (someone may have tuned it with `gantry scale`): gantry.json's
    // block sets up a new app; on an existing one it is applied only when asked, and said so.
    let scaling: 'applied' | 'kept' | undefined;
    if (cfg.scaling && (created || a.values['reset-scale'] === true)) {
      await api.patchScaling(ref, cfg.scaling);
      scaling = 'applied';
    } else if (cfg.scaling) {
      scaling = 'kept';
      ctx.out.note(
        `"scaling" in ${cfg.source} was not applied: ${id} exists and keeps its scaling settings ` +
          `across deploys (see \`gantry scale ${id}\`). Pass --reset-scale to apply it.`,
      );
    }
    const rev = await api.createRevision(ref, {
      command: cfg.command,
      cwd: cfg.cwd,
      settings: cfg.settings,
      message: str(a.values.message) ?? `gantry deploy from ${cfg.cwd}`,
      ...(strategy ? { strategy } : {}),
    });
    const where = `${id} ${ref.env}`;
    progress.update(
      rev.active
        ? `Revision ${rev.number} of ${where} is active`
        : `Rolling out revision ${rev.number} of ${where}: the current revision serves until it is healthy`,
    );
    const summary = {
      app: id,
      environment: ref.env,
      endpoint_id: ref.env === 'production' ? id : `${id}--${ref.env}`,
      revision: rev.number,
      ...(scaling ? { scaling } : {}),
    };

    if (a.values['no-wait'] === true) {
      progress.done();
      if (ctx.out.json) return ctx.out.data({ ...summary, status: 'active' });
      return ctx.out.line(`Deployed revision ${rev.number} to ${where} (not waiting for a runner).`);
    }

    const started = Date.now();
    const deadline = started + timeoutS * 1000;
    for (;;) {
      const runners = await api.listRunners(ref, { ended_within_hours: 1 });
      const mine = runners.filter((r) => r.revision === rev.number);
      const ready = mine.find((r) => r.state === 'IDLE' || r.state === 'RUNNING');
      const crashed = mine.find((r) => r.state === 'CRASH_BACKOFF');
      const elapsed = ((Date.now() - started) / 1000).toFixed(1);
      if (ready) {
        progress.done();
        if (ctx.out.json) return ctx.out.data({ ...summary, status: 'live', runner: ready.id });
        return ctx.out.line(
          `Deployed revision ${rev.number} to ${where}: live (runner ${ready.id.slice(0, 8)} ready in ${elapsed}s).\n` +
            `Call it: gantry run ${summary.endpoint_id} --input '{…}'   (or POST ${api.url}/queue/${summary.endpoint_id})`,
        );
      }
      if (crashed) {
        progress.done();
        const reason = crashed.detail ?? 'its runner crashed before becoming ready';
        if (ctx.out.json) ctx.out.data({ ...summary, status: 'failed', failure: reason });
        // A rolling rollout keeps the old revision when the new one fails: nothing to roll back.
        const serving = (await api.listRevisions(ref)).find((r) => r.active);
        throw new CliError(
          EXIT.FAILURE,
          `Revision ${rev.number} of ${where} failed to start: ${reason}\n` +
            (serving && serving.number !== rev.number
              ? `The rollout was aborted: revision ${serving.number} keeps serving.`
              : `Roll back with \`gantry rollback ${summary.endpoint_id}\`.`),
        );
      }
      if (mine.length === 0 && Date.now() - started > FIRST_RUNNER_GRACE_MS) {
        progress.done();
        if (ctx.out.json) return ctx.out.data({ ...summary, status: 'scaled_to_zero' });
        return ctx.out.line(
          `Deployed revision ${rev.number} to ${where}. No runner is needed yet (scaled to zero): ` +
            'the first request starts one.',
        );
      }
      if (Date.now() > deadline) {
        progress.done();
        throw new CliError(
          EXIT.FAILURE,
          `Revision ${rev.number} is active, but no runner was ready after ${timeoutS}s ` +
            `(states: ${mine.map((r) => r.state).join(', ')}). Watch it with \`gantry runners list ${summary.endpoint_id}\`.`,
        );
      }
      const states = mine.map((r) => `${r.id.slice(0, 8)} ${r.state}`).join(', ');
      progress.update(
        `Revision ${rev.number} of ${where}: ${states || 'waiting for a runner'} (${elapsed}s)`,
      );
      await sleep(POLL_MS);
    }
  },
};
