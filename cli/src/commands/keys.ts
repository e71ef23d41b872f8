/** `gantry keys create|list|revoke`. */
import type { Command } from '../command.ts';
import { usageError } from '../exit-codes.ts';
import { ago } from '../output.ts';
import { confirm } from '../prompt.ts';

/** `--expires 30d`, `12h`, `90m`, or an ISO 8601 time: when a new key stops working. */
export function parseExpiry(raw: string, now = Date.now()): string {
  const m = /^(\d+)\s*([mhd])$/.exec(raw.trim());
  if (m) {
    const unit = { m: 60_000, h: 3_600_000, d: 86_400_000 }[m[2] as 'm' | 'h' | 'd'];
    return new Date(now + Number(m[1]) * unit).toISOString();
  }
  const at = Date.parse(raw);
  if (!Number.isFinite(at) || !/^\d{4}-\d{2}-\d{2}/.test(raw.trim())) {
    throw usageError(`--expires takes a duration (30d, 12h, 90m) or an ISO 8601 time, got "${raw}".`);
  }
  return new Date(at).toISOString();
}

const list = (v: unknown): string[] | undefined =>
  typeof v === 'string'
    ? v
        .split(',')
        .map((x) => x.trim())
        .filter((x) => x !== '')
    : undefined;

export const keyCommands: Command[] = [
  {
    words: ['keys', 'create'],
    summary: 'Create a key; it is shown once',
    usage:
      '[--scope API|ADMIN] [--owner O] [--apps A,B] [--envs E,F] [--expires 30d] [--rate-limit N] [--description D]',
    examples: [
      'gantry keys create --scope API --owner acme --description "web frontend"',
      'gantry keys create --scope API --owner acme --apps acme/sdxl --envs production --expires 30d --rate-limit 120',
      'gantry keys create --scope ADMIN --owner acme --description "acme team"',
    ],
    options: {
      scope: {
        type: 'string',
        value: 'scope',
        help: 'API (call apps; default) or ADMIN (manage, and call any app).',
      },
      owner: {
        type: 'string',
        value: 'owner',
        help: "API: owner whose private apps the key may call (required). ADMIN: limit the key to this owner's apps.",
      },
      apps: {
        type: 'string',
        value: 'owner/name,…',
        help: 'API keys: call only these apps (comma-separated).',
      },
      envs: {
        type: 'string',
        value: 'env,…',
        help: 'API keys: call only these environments (comma-separated), e.g. production.',
      },
      expires: {
        type: 'string',
        value: 'when',
        help: 'When the key stops working: a duration (30d, 12h, 90m) or an ISO 8601 time.',
      },
      'rate-limit': {
        type: 'string',
        value: 'n',
        help: 'Requests the key may submit a minute; past it, 429 GANTRY_ERR_RATE_LIMITED.',
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
      const apps = list(a.values.apps);
      const environments = list(a.values.envs);
      if (scope === 'ADMIN' && (apps || environments)) {
        throw usageError('--apps and --envs limit API keys; limit an ADMIN key with --owner.');
      }
      let rateLimit: number | undefined;
      if (typeof a.values['rate-limit'] === 'string') {
        rateLimit = Number(a.values['rate-limit']);
        if (!Number.isInteger(rateLimit) || rateLimit < 1) {
          throw usageError(
            `--rate-limit must be a whole number of requests a minute, got "${a.values['rate-limit']}".`,
          );
        }
      }
      const k = await (await ctx.api()).createKey({
        scope,
        ...(typeof a.values.owner === 'string' ? { owner: a.values.owner } : {}),
        ...(typeof a.values.description === 'string' ? { description: a.values.description } : {}),
        ...(apps ? { apps } : {}),
        ...(environments ? { environments } : {}),
        ...(typeof a.values.expires === 'string' ? { expires_at: parseExpiry(a.values.expires) } : {}),
        ...(rateLimit !== undefined ? { rate_limit: rateLimit } : {}),
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
        ['ID', 'SCOPE', 'OWNER', 'LIMITS', 'EXPIRES', 'REQUESTS', 'LAST USED', 'CREATED', 'DESCRIPTION'],
        keys.map((k) => [
          k.id,
          k.scope,
          k.owner,
          limitsOf(k),
          k.expires_at ?? null,
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
    usage: '<key id> [--yes]',
    examples: ['gantry keys revoke key_3f2a9c1b7d4e --yes'],
    options: { yes: { type: 'boolean', short: 'y', help: 'Do not ask for confirmation.' } },
    args: { min: 1, max: 1 },
    async run(ctx, a) {
      const id = a.positionals[0]!;
      if (
        !(await confirm(
          `Revoke key ${id}? Every call made with it fails from now on.`,
          a.values.yes === true,
        ))
      ) {
        return ctx.out.note('Nothing revoked.');
      }
      await (await ctx.api()).revokeKey(id);
      if (ctx.out.json) return ctx.out.data({ revoked: id });
      ctx.out.line(`Revoked ${id}.`);
    },
  },
];

/** `apps=acme/a env=production 60/min`: what a key is limited to, for the table. */
function limitsOf(k: { apps: string[] | null; environments: string[] | null; rate_limit: number | null }) {
  const parts = [
    k.apps ? `apps=${k.apps.join(',')}` : '',
    k.environments ? `envs=${k.environments.join(',')}` : '',
    k.rate_limit !== null ? `${k.rate_limit}/min` : '',
  ].filter((x) => x !== '');
  return parts.length ? parts.join(' ') : null;
}
