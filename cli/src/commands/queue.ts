/** `gantry queue size|flush`. */
import { parseAppRef } from '../args.ts';
import { type Command, ENV_OPTION } from '../command.ts';
import { confirm } from '../prompt.ts';

export const queueCommands: Command[] = [
  {
    words: ['queue', 'size'],
    summary: 'How many requests wait and run in an environment',
    usage: '<owner/name> [--env E]',
    examples: ['gantry queue size acme/sdxl'],
    options: ENV_OPTION,
    args: { min: 1, max: 1 },
    async run(ctx, a) {
      const ref = parseAppRef(a.positionals[0], a.values.env);
      const q = await (await ctx.api()).queue(ref);
      if (ctx.out.json) return ctx.out.data(q);
      ctx.out.line(
        `${q.environment} of ${ref.owner}/${ref.name}: ${q.queued} queued, ${q.in_progress} in progress.`,
      );
    },
  },
  {
    words: ['queue', 'flush'],
    summary: 'Cancel every queued request (running ones finish); callers see them cancelled',
    usage: '<owner/name> [--env E] [--yes]',
    examples: ['gantry queue flush acme/sdxl --env staging --yes'],
    options: { ...ENV_OPTION, yes: { type: 'boolean', short: 'y', help: 'Do not ask for confirmation.' } },
    args: { min: 1, max: 1 },
    async run(ctx, a) {
      const ref = parseAppRef(a.positionals[0], a.values.env);
      const api = await ctx.api();
      await api.queue(ref);
      if (
        !(await confirm(
          `Cancel every queued request of ${ref.env} of ${ref.owner}/${ref.name}?`,
          a.values.yes === true,
        ))
      ) {
        return ctx.out.note('Nothing cancelled.');
      }
      const r = await api.flushQueue(ref);
      if (ctx.out.json) return ctx.out.data(r);
      ctx.out.line(
        `Cancelled ${r.cancelled} queued request${r.cancelled === 1 ? '' : 's'} of ${r.environment}.`,
      );
    },
  },
];
