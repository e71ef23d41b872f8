/** `gantry secrets set|list|unset`: per environment, no fallback between environments. */

import { parseAppRef, parseAssignments } from '../args.ts';
import { type Command, ENV_OPTION } from '../command.ts';
import { ago } from '../output.ts';

export const secretCommands: Command[] = [
  {
    words: ['secrets', 'set'],
    summary: 'Set secrets of an environment (encrypted at rest, given to runners as env vars)',
    usage: '<owner/name> NAME=VALUE… [--env E]',
    examples: [
      'gantry secrets set acme/sdxl HF_TOKEN=hf_xxx WANDB_KEY=abc',
      'gantry secrets set acme/sdxl HF_TOKEN="$(cat token.txt)" --env staging',
    ],
    options: ENV_OPTION,
    args: { min: 2 },
    async run(ctx, a) {
      const ref = parseAppRef(a.positionals[0], a.values.env);
      const secrets = parseAssignments(a.positionals.slice(1));
      const r = await (await ctx.api()).setSecrets(ref, secrets);
      if (ctx.out.json) return ctx.out.data(r);
      ctx.out.line(`Set ${r.names.join(', ')} in ${r.environment} of ${ref.owner}/${ref.name}.`);
      ctx.out.note(r.hint);
    },
  },
  {
    words: ['secrets', 'list'],
    summary: 'List secret names and when they changed (never values)',
    usage: '<owner/name> [--env E]',
    examples: ['gantry secrets list acme/sdxl --env staging'],
    options: ENV_OPTION,
    args: { min: 1, max: 1 },
    async run(ctx, a) {
      const ref = parseAppRef(a.positionals[0], a.values.env);
      const r = await (await ctx.api()).listSecrets(ref);
      if (ctx.out.json) return ctx.out.data(r);
      if (r.secrets.length === 0)
        return ctx.out.note(`No secrets in ${r.environment} of ${ref.owner}/${ref.name}.`);
      ctx.out.table(
        ['NAME', 'UPDATED'],
        r.secrets.map((s) => [s.name, ago(s.updated_at)]),
      );
    },
  },
  {
    words: ['secrets', 'unset'],
    summary: 'Remove secrets from an environment',
    usage: '<owner/name> NAME… [--env E]',
    examples: ['gantry secrets unset acme/sdxl WANDB_KEY'],
    options: ENV_OPTION,
    args: { min: 2 },
    async run(ctx, a) {
      const ref = parseAppRef(a.positionals[0], a.values.env);
      const names = a.positionals.slice(1);
      const r = await (await ctx.api()).unsetSecrets(ref, names);
      if (ctx.out.json) return ctx.out.data(r);
      ctx.out.line(`Unset ${r.names.join(', ')} in ${r.environment} of ${ref.owner}/${ref.name}.`);
      ctx.out.note(r.hint);
    },
  },
];
