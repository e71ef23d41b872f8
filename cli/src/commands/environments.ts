/** `gantry environments create|list|delete`. */

import { parseAppRef } from '../args.ts';
import type { Command } from '../command.ts';
import { ago } from '../output.ts';
import { confirm } from '../prompt.ts';

export const environmentCommands: Command[] = [
  {
    words: ['environments', 'create'],
    summary: 'Create an environment (own queue, runners, scaling, revisions and secrets)',
    usage: '<owner/name> <env>',
    examples: ['gantry environments create acme/sdxl staging'],
    args: { min: 2, max: 2 },
    async run(ctx, a) {
      const ref = parseAppRef(a.positionals[0]);
      const env = await (await ctx.api()).createEnvironment(ref, { name: a.positionals[1]! });
      if (ctx.out.json) return ctx.out.data(env);
      ctx.out.line(
        `Created environment ${env.name} of ${ref.owner}/${ref.name}; its endpoint id is ${env.endpoint_id}.`,
      );
    },
  },
  {
    words: ['environments', 'list'],
    summary: "List an app's environments",
    usage: '<owner/name>',
    examples: ['gantry environments list acme/sdxl'],
    args: { min: 1, max: 1 },
    async run(ctx, a) {
      const ref = parseAppRef(a.positionals[0]);
      const environments = await (await ctx.api()).listEnvironments(ref);
      if (ctx.out.json) return ctx.out.data({ environments });
      ctx.out.table(
        ['ENVIRONMENT', 'ENDPOINT', 'ACTIVE REVISION', 'SECRETS', 'CREATED'],
        environments.map((e) => [
          e.name,
          e.endpoint_id,
          e.active_revision,
          e.secrets,
          ago(e.created_at ?? null),
        ]),
      );
    },
  },
  {
    words: ['environments', 'delete'],
    summary: 'Delete an environment with its queue, runners, secrets and history',
    usage: '<owner/name> <env> [--yes]',
    examples: ['gantry environments delete acme/sdxl pr-42 --yes'],
    options: { yes: { type: 'boolean', short: 'y', help: 'Do not ask for confirmation.' } },
    args: { min: 2, max: 2 },
    async run(ctx, a) {
      const ref = { ...parseAppRef(a.positionals[0]), env: a.positionals[1]! };
      const api = await ctx.api();
      // Fail on a wrong name before asking anything.
      await api.getScaling(ref);
      const what = `environment ${ref.env} of ${ref.owner}/${ref.name}`;
      if (
        !(await confirm(
          `Delete ${what} with its queue, runners, secrets and history?`,
          a.values.yes === true,
        ))
      ) {
        return ctx.out.note('Nothing deleted.');
      }
      await api.deleteEnvironment(ref);
      if (ctx.out.json) return ctx.out.data({ deleted: ref.env });
      ctx.out.line(`Deleted ${what}.`);
    },
  },
];
