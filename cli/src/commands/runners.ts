/** `gantry runners list|stop|kill`. */

import { parseAppRef } from '../args.ts';
import { type Command, ENV_OPTION } from '../command.ts';
import { ago } from '../output.ts';

const short = (id: string) => id.slice(0, 8);

function action(which: 'stop' | 'kill'): Command {
  return {
    words: ['runners', which],
    summary:
      which === 'stop'
        ? 'Drain a runner: it finishes what it holds, then stops'
        : 'Kill a runner at once (its requests are retried)',
    usage: '<owner/name> <runner id or prefix> [--env E]',
    examples: [`gantry runners ${which} acme/sdxl 3f2a9c1b`],
    options: ENV_OPTION,
    args: { min: 2, max: 2 },
    async run(ctx, a) {
      const ref = parseAppRef(a.positionals[0], a.values.env);
      const r = await (await ctx.api()).runnerAction(ref, a.positionals[1]!, which);
      if (ctx.out.json) return ctx.out.data(r);
      ctx.out.line(`Runner ${short(r.id)}: ${which === 'stop' ? 'draining' : 'killed'} (state ${r.state}).`);
    },
  };
}

export const runnerCommands: Command[] = [
  {
    words: ['runners', 'list'],
    summary: "List an environment's runners and their states",
    usage: '<owner/name> [--env E] [--all]',
    examples: ['gantry runners list acme/sdxl', 'gantry runners list acme/sdxl --all --json'],
    options: {
      ...ENV_OPTION,
      all: { type: 'boolean', help: 'Include runners that ended in the last 24 hours.' },
    },
    args: { min: 1, max: 1 },
    async run(ctx, a) {
      const ref = parseAppRef(a.positionals[0], a.values.env);
      const runners = await (await ctx.api()).listRunners(ref, {
        ended_within_hours: a.values.all === true ? 24 : 0,
      });
      if (ctx.out.json) return ctx.out.data({ environment: ref.env, runners });
      if (runners.length === 0) return ctx.out.note(`No runners in ${ref.env} (scaled to zero).`);
      ctx.out.table(
        ['RUNNER', 'STATE', 'REV', 'IN FLIGHT', 'STARTED', 'COLD START', 'DETAIL'],
        runners.map((r) => [
          short(r.id),
          r.state,
          r.revision,
          r.in_flight,
          ago(r.created_at),
          r.cold_start_ms === null ? null : `${(r.cold_start_ms / 1000).toFixed(1)}s`,
          r.detail,
        ]),
      );
    },
  },
  action('stop'),
  action('kill'),
];
