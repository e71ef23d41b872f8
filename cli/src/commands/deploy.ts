/**
 * `gantry deploy`: from a local folder (or, with `--image`, an image pinned by digest), create the
 * app when missing, register a revision with the folder's command (or the image), roll it out, and
 * follow the deploy gate until the revision serves (one runner of it started and passed its health
 * check) or fails (exit 1 with the app's last lines).
 */

import { setTimeout as sleep } from 'node:timers/promises';
import { type ControlApiClient, ControlApiError, type EnvRef } from '../../../contract/src/control-client.ts';
import type { AppView, AuthMode } from '../../../contract/src/management-api.ts';
import { type Command, ENV_OPTION } from '../command.ts';
import { loadDeployConfig } from '../deploy-config.ts';
import { CliError, EXIT, usageError } from '../exit-codes.ts';
import { parseImageRef } from '../image-ref.ts';
import { createProgress } from '../progress.ts';
import { AUTH_MODES } from './apps.ts';
import { parseStrategy, STRATEGY_OPTION } from './revisions.ts';

const POLL_MS = 300;
const str = (v: unknown) => (typeof v === 'string' ? v : undefined);
/** How long a recreate deploy looks for a first runner before concluding none is needed yet. */
const FIRST_RUNNER_GRACE_MS = 2_000;

type Followed = { kind: 'live' } | { kind: 'idle' } | { kind: 'failed'; reason: string };

/** After an unproven switch (recreate): a runner of the revision ready, crashed, or none started. */
async function followRunners(
  api: ControlApiClient,
  ref: EnvRef,
  revision: number,
  deadline: number,
  show: (text: string) => void,
): Promise<Followed> {
  const started = Date.now();
  for (;;) {
    const mine = (await api.listRunners(ref, { ended_within_hours: 1 })).filter(
      (r) => r.revision === revision,
    );
    if (mine.some((r) => r.state === 'IDLE' || r.state === 'RUNNING')) return { kind: 'live' };
    const crashed = mine.find((r) => r.state === 'CRASH_BACKOFF');
    if (crashed)
      return { kind: 'failed', reason: crashed.detail ?? 'its runner crashed before becoming ready' };
    if (mine.length === 0 && Date.now() - started > FIRST_RUNNER_GRACE_MS) return { kind: 'idle' };
    if (Date.now() > deadline) return { kind: 'failed', reason: 'no runner of it was ready in time' };
    show(
      `Revision ${revision}: ${mine.map((r) => `${r.id.slice(0, 8)} ${r.state}`).join(', ') || 'waiting for a runner'}`,
    );
    await sleep(POLL_MS);
  }
}

export const deployCommand: Command = {
  words: ['deploy'],
  summary: 'Deploy a local folder or an image as a new revision and follow it until live',
  usage:
    '[folder | --image REF@sha256:…] [--app owner/name] [--env E] [--command CMD] [--auth MODE] [--message M] [--strategy S] [--no-wait]',
  examples: [
    'gantry deploy ./my-app',
    'gantry deploy . --app acme/echo --command "node server.js" --env staging',
    'gantry deploy --image ghcr.io/acme/sdxl@sha256:<digest> --app acme/sdxl',
  ],
  options: {
    app: { type: 'string', value: 'owner/name', help: 'App to deploy to (else "app" in gantry.json).' },
    image: {
      type: 'string',
      value: 'ref@sha256:…',
      help: 'Deploy this image instead of a folder (container compute), pinned by digest; gantry.json in the current folder, if any, still gives app, settings and scaling.',
    },
    ...ENV_OPTION,
    command: {
      type: 'string',
      value: 'cmd',
      help: 'Command that starts the app (else "command" in gantry.json).',
    },
    auth: { type: 'string', value: 'mode', help: 'Auth mode: private, public or shared (set on the app).' },
    message: { type: 'string', short: 'm', value: 'text', help: 'Note kept with the revision.' },
    strategy: STRATEGY_OPTION(
      'rolling (default): the deploy gate, the new revision takes over once a runner of it is healthy, the old one serves until then; recreate: switch at once, unproven.',
    ),
    'reset-scale': {
      type: 'boolean',
      help: 'Apply "scaling" from gantry.json to an existing app too (a new app always gets it).',
    },
    'no-wait': {
      type: 'boolean',
      help: 'Return once the rollout started, without waiting for the deploy gate.',
    },
    timeout: { type: 'string', value: 'seconds', help: 'How long to wait for a ready runner (default 300).' },
  },
  args: { min: 0, max: 1 },
  async run(ctx, a) {
    const rawImage = str(a.values.image);
    if (rawImage !== undefined && a.positionals[0] !== undefined) {
      throw usageError(
        `Deploy a folder or an image, not both: --image runs the image, "${a.positionals[0]}" would run its folder's command. ` +
          'Drop one (with --image, gantry.json in the current folder still gives app and settings).',
      );
    }
    if (rawImage !== undefined && a.values.command !== undefined) {
      throw usageError(
        '--command runs a folder; an image deploy runs what the image says. Drop one of them.',
      );
    }
    const image = rawImage === undefined ? undefined : parseImageRef(rawImage);
    const cfg = await loadDeployConfig(
      a.positionals[0] ?? '.',
      {
        app: str(a.values.app),
        env: str(a.values.env),
        command: str(a.values.command),
        auth: str(a.values.auth),
      },
      { image: image !== undefined },
    );
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
    // Recorded first, then rolled out explicitly: registering a revision never activates it.
    const rev = await api.createRevision(
      ref,
      image
        ? {
            image,
            settings: cfg.settings,
            message: str(a.values.message) ?? `gantry deploy --image ${image}`,
          }
        : {
            command: cfg.command,
            cwd: cfg.cwd,
            settings: cfg.settings,
            message: str(a.values.message) ?? `gantry deploy from ${cfg.cwd}`,
          },
    );
    const where = `${id} ${ref.env}`;
    const started = Date.now();
    let { rollout } = await api.setActiveRevision(ref, {
      revision: rev.number,
      reason: 'gantry deploy',
      by: 'cli',
      ...(strategy ? { strategy } : {}),
    });
    const summary = {
      app: id,
      environment: ref.env,
      endpoint_id: ref.env === 'production' ? id : `${id}--${ref.env}`,
      revision: rev.number,
      ...(image ? { image } : {}),
      ...(scaling ? { scaling } : {}),
    };
    progress.update(
      rollout.state === 'in_progress'
        ? `Proving revision ${rev.number} of ${where}: one runner must start and pass its health check before it serves`
        : `Revision ${rev.number} of ${where}: rollout ${rollout.state}`,
    );

    if (a.values['no-wait'] === true && rollout.state === 'in_progress') {
      progress.done();
      if (ctx.out.json) return ctx.out.data({ ...summary, status: 'rolling_out', rollout: rollout.id });
      return ctx.out.line(
        `Rolling out revision ${rev.number} to ${where} (not waiting): it serves once a runner of it is healthy. ` +
          `Watch it with \`gantry events ${summary.endpoint_id}\`.`,
      );
    }

    const deadline = started + timeoutS * 1000;
    while (rollout.state === 'in_progress') {
      if (Date.now() > deadline) {
        progress.done();
        throw new CliError(
          EXIT.FAILURE,
          `Revision ${rev.number} of ${where} was not proven healthy after ${timeoutS}s; it does not serve yet ` +
            `(control ends the rollout at its startup_timeout). Watch it with \`gantry runners list ${summary.endpoint_id}\`.`,
        );
      }
      const runner = rollout.candidate_runner_id
        ? (await api.listRunners(ref, { ended_within_hours: 1 })).find(
            (r) => r.id === rollout.candidate_runner_id,
          )
        : undefined;
      const elapsed = ((Date.now() - started) / 1000).toFixed(1);
      progress.update(
        `Proving revision ${rev.number} of ${where}: ${runner ? `runner ${runner.id.slice(0, 8)} ${runner.state}` : 'starting a runner'} (${elapsed}s)`,
      );
      await sleep(POLL_MS);
      rollout = (await api.listRollouts(ref, { limit: 20 })).find((r) => r.id === rollout.id) ?? {
        ...rollout,
        state: 'superseded',
      };
    }
    progress.done();
    const elapsed = ((Date.now() - started) / 1000).toFixed(1);
    const callIt = `Call it: gantry run ${summary.endpoint_id} --input '{…}'   (or POST ${api.url}/queue/${summary.endpoint_id})`;
    if (rollout.state === 'completed' && rollout.strategy !== 'recreate') {
      if (ctx.out.json) return ctx.out.data({ ...summary, status: 'live', rollout: rollout.id });
      return ctx.out.line(
        `Deployed revision ${rev.number} to ${where}: live, proven healthy in ${elapsed}s.\n${callIt}`,
      );
    }
    let reason = rollout.detail ?? `the rollout was ${rollout.state}`;
    if (rollout.state === 'completed') {
      // recreate switched unproven: follow its runners until one is ready or crashed.
      const outcome = await followRunners(api, ref, rev.number, deadline, (text) => progress.update(text));
      progress.done();
      if (outcome.kind === 'live' || outcome.kind === 'idle') {
        if (ctx.out.json)
          return ctx.out.data({ ...summary, status: outcome.kind === 'live' ? 'live' : 'scaled_to_zero' });
        return ctx.out.line(
          outcome.kind === 'live'
            ? `Deployed revision ${rev.number} to ${where}: live (recreate, switched at once).\n${callIt}`
            : `Deployed revision ${rev.number} to ${where} (recreate, unproven): no runner yet, the first request starts one.`,
        );
      }
      reason = outcome.reason;
    }
    if (ctx.out.json) ctx.out.data({ ...summary, status: 'failed', failure: reason });
    const serving = (await api.listRevisions(ref)).find((r) => r.active);
    throw new CliError(
      EXIT.FAILURE,
      `Revision ${rev.number} of ${where} failed to start: ${reason}\n` +
        (serving?.number === rev.number
          ? `It is active (recreate): roll back with \`gantry rollback ${summary.endpoint_id}\`.`
          : serving
            ? `The rollout was aborted: revision ${serving.number} keeps serving.`
            : 'The rollout was aborted: no revision serves this environment yet.') +
        ` The app's output: \`gantry logs ${summary.endpoint_id}\`.`,
    );
  },
};
