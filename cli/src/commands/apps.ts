/** `gantry apps list|create|delete`. */

import { type AuthMode, AUTH_MODES as CONTRACT_AUTH_MODES } from '../../../contract/src/management-api.ts';
import { parseAppRef } from '../args.ts';
import type { Command } from '../command.ts';
import { usageError } from '../exit-codes.ts';
import { ago } from '../output.ts';
import { confirm } from '../prompt.ts';

export const AUTH_MODES: readonly string[] = CONTRACT_AUTH_MODES;

export const appsCommands: Command[] = [
  {
    words: ['apps', 'list'],
    summary: 'List apps',
    usage: '',
    examples: ['gantry apps list', 'gantry apps list --json'],
    args: { min: 0, max: 0 },
    async run(ctx) {
      const apps = await (await ctx.api()).listApps();
      if (ctx.out.json) return ctx.out.data({ apps });
      if (apps.length === 0)
        return ctx.out.note('No apps yet: `gantry deploy` or `gantry apps create owner/name`.');
      ctx.out.table(
        ['APP', 'AUTH', 'CREATED'],
        apps.map((a) => [a.endpoint_id, a.auth_mode, ago(a.created_at)]),
      );
    },
  },
  {
    words: ['apps', 'create'],
    summary: 'Create an app (with its production environment)',
    usage: '<owner/name> [--auth private|public|shared]',
    examples: ['gantry apps create acme/sdxl --auth shared'],
    options: {
      auth: {
        type: 'string',
        value: 'mode',
        help: 'private (a key of the owner, default), public (no key) or shared (any valid key).',
      },
    },
    args: { min: 1, max: 1 },
    async run(ctx, a) {
      const ref = parseAppRef(a.positionals[0]);
      const auth = typeof a.values.auth === 'string' ? a.values.auth : 'private';
      if (!AUTH_MODES.includes(auth)) {
        throw usageError(`--auth must be one of ${AUTH_MODES.join(', ')}.`);
      }
      const app = await (await ctx.api()).createApp({
        owner: ref.owner,
        name: ref.name,
        auth_mode: auth as AuthMode,
      });
      if (ctx.out.json) return ctx.out.data(app);
      ctx.out.line(
        `Created ${app.endpoint_id} (${app.auth_mode}). Deploy to it with \`gantry deploy --app ${app.endpoint_id}\`.`,
      );
    },
  },
  {
    words: ['apps', 'delete'],
    summary: 'Delete an app with its environments, runners, queues, secrets and history',
    usage: '<owner/name> [--yes]',
    examples: ['gantry apps delete acme/old-model --yes'],
    options: { yes: { type: 'boolean', short: 'y', help: 'Do not ask for confirmation.' } },
    args: { min: 1, max: 1 },
    async run(ctx, a) {
      const ref = parseAppRef(a.positionals[0]);
      const api = await ctx.api();
      await api.getApp(ref);
      const id = `${ref.owner}/${ref.name}`;
      if (
        !(await confirm(
          `Delete ${id} with every environment, runner, secret and request?`,
          a.values.yes === true,
        ))
      ) {
        return ctx.out.note('Nothing deleted.');
      }
      await api.deleteApp(ref);
      if (ctx.out.json) return ctx.out.data({ deleted: id });
      ctx.out.line(`Deleted ${id}.`);
    },
  },
];
