/** `gantry rollout`: replace an environment's runners on the revision it already serves. */
import { parseAppRef } from '../args.ts';
import { type Command, ENV_OPTION } from '../command.ts';

export const rolloutCommand: Command = {
  words: ['rollout'],
  summary: 'Restart the runners of the active revision, e.g. after changing secrets (no rebuild)',
  usage: '<owner/name> [--env E] [--force]',
  examples: ['gantry rollout acme/sdxl', 'gantry rollout acme/sdxl --env staging --force'],
  options: {
    ...ENV_OPTION,
    force: {
      type: 'boolean',
      help: 'Replace every runner at once (recreate) instead of starting a new one and draining the old once it is healthy.',
    },
  },
  args: { min: 1, max: 1 },
  async run(ctx, a) {
    const ref = parseAppRef(a.positionals[0], a.values.env);
    const api = await ctx.api();
    const force = a.values.force === true;
    const r = await api.startRollout(ref, {
      restart: true,
      strategy: force ? 'recreate' : 'rolling',
      reason: 'gantry rollout',
      by: 'cli',
    });
    if (ctx.out.json) return ctx.out.data(r);
    const where = `${ref.env} of ${ref.owner}/${ref.name}`;
    ctx.out.line(
      r.state === 'in_progress'
        ? `Restarting ${where} on revision ${r.to_revision}: a new runner starts, and the old ones drain once it is healthy.`
        : `Restarted ${where} on revision ${r.to_revision} (${r.strategy}): runners start afresh, with the current secrets.`,
    );
  },
};
