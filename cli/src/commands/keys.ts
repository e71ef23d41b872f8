/** `gantry keys create|list|revoke`. */
import type { Command } from '../command.ts';
import { usageError } from '../exit-codes.ts';
import { ago } from '../output.ts';

export const keyCommands: Command[] = [
  {
    words: ['keys', 'create'],
    summary: 'Create a key; it is shown once',
    usage: '[--scope API|ADMIN] [--owner O] [--description D]',
    examples: ['gantry keys create --scope API --owner acme --description "web frontend"'],
    options: {
      scope: {
        type: 'string',
        value: 'scope',
        help: 'API (call apps; default) or ADMIN (manage, and call any app).',
      },
      owner: {
        type: 'string',
        value: 'owner',
        help: 'Owner whose private apps an API key may call (required for API).',
      },
      description: { type: 'string', value: 'text', help: 'What the key is for.' },
    },
    args: { min: 0, max: 0 },
    async run(ctx, a) {
      const scope = typeof a.values.scope === 'string' ? a.values.scope.toUpperCase() : 'API';
      if (scope !== 'API' && scope !== 'ADMIN') throw usageError('--scope must be API or ADMIN.');
      if (scope === 'API' && typeof a.values.owner !== 'string') {
        throw usageError('An API key needs --owner (whose private apps it may call).');
      }
      const k = await (await ctx.api()).createKey({
        scope,
        ...(typeof a.values.owner === 'string' ? { owner: a.values.owner } : {}),
        ...(typeof a.values.description === 'string' ? { description: a.values.description } : {}),
      });
      if (ctx.out.json) return ctx.out.data(k);
      ctx.out.note(
        `Created ${k.scope} key ${k.id}${k.owner ? ` for ${k.owner}` : ''}. It is shown once; keep it now:`,
      );
      ctx.out.line(k.key);
    },
  },
  {
    words: ['keys', 'list'],
    summary: 'List keys (id, scope, owner, description, usage; never the key)',
    usage: '',
    examples: ['gantry keys list'],
    args: { min: 0, max: 0 },
    async run(ctx) {
      const keys = await (await ctx.api()).listKeys();
      if (ctx.out.json) return ctx.out.data({ keys });
      ctx.out.table(
        ['ID', 'SCOPE', 'OWNER', 'REQUESTS', 'LAST USED', 'CREATED', 'DESCRIPTION'],
        keys.map((k) => [
          k.id,
          k.scope,
          k.owner,
          k.requests,
          ago(k.last_used_at ?? null),
          ago(k.created_at),
          k.description,
        ]),
      );
    },
  },
  {
    words: ['keys', 'revoke'],
    summary: 'Revoke a key: it stops working at once',
    usage: '<key id>',
    examples: ['gantry keys revoke key_3f2a9c1b7d4e'],
    args: { min: 1, max: 1 },
    async run(ctx, a) {
      const id = a.positionals[0]!;
      await (await ctx.api()).revokeKey(id);
      if (ctx.out.json) return ctx.out.data({ revoked: id });
      ctx.out.line(`Revoked ${id}.`);
    },
  },
];
