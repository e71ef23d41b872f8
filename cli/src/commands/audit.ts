/**
 * `gantry audit`: the audit log of management actions (who, what, which app, when, from where),
 * newest first; --app, --actor and --since narrow it, --limit and --before page through it.
 */

import type { Command } from '../command.ts';
import { usageError } from '../exit-codes.ts';
import { parseExpiry } from './keys.ts';

/** `--since 2h` (a duration back from now) or an ISO 8601 time. */
export function parseSince(raw: string, now = Date.now()): string {
  const m = /^(\d+)\s*([mhd])$/.exec(raw.trim());
  if (m) {
    const unit = { m: 60_000, h: 3_600_000, d: 86_400_000 }[m[2] as 'm' | 'h' | 'd'];
    return new Date(now - Number(m[1]) * unit).toISOString();
  }
  try {
    return parseExpiry(raw, now);
  } catch {
    throw usageError(`--since takes a duration back from now (2h, 7d) or an ISO 8601 time, got "${raw}".`);
  }
}

const whole = (name: string, v: unknown): number | undefined => {
  if (typeof v !== 'string') return undefined;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) throw usageError(`--${name} must be a whole number, got "${v}".`);
  return n;
};

export const auditCommand: Command = {
  words: ['audit'],
  summary: 'Show the audit log: who changed keys, secrets, scaling, revisions and apps, when and from where',
  usage: '[--app owner/name] [--actor ID] [--since 24h] [--limit N] [--before SEQ]',
  examples: ['gantry audit --app acme/sdxl --since 7d', 'gantry audit --actor github:octocat --json'],
  options: {
    app: { type: 'string', value: 'owner/name', help: 'Only actions on this app.' },
    actor: { type: 'string', value: 'id', help: 'Only actions by this key id, or for `github:<login>`.' },
    since: {
      type: 'string',
      value: 'when',
      help: 'Only actions since: a duration (24h, 7d) or ISO 8601 time.',
    },
    limit: { type: 'string', value: 'N', help: 'How many entries (default 50, at most 1000).' },
    before: { type: 'string', value: 'seq', help: 'Entries older than this SEQ (the next page).' },
  },
  args: { min: 0, max: 0 },
  async run(ctx, a) {
    const app = typeof a.values.app === 'string' ? a.values.app : undefined;
    if (app !== undefined && !/^[a-z0-9-]+\/[a-z0-9-]+$/.test(app)) {
      throw usageError(`--app takes owner/name, got "${app}".`);
    }
    const limit = Math.min(whole('limit', a.values.limit) ?? 50, 1000);
    const before = whole('before', a.values.before);
    const page = await (await ctx.api()).listAudit({
      ...(app ? { app } : {}),
      ...(typeof a.values.actor === 'string' ? { actor: a.values.actor } : {}),
      ...(typeof a.values.since === 'string' ? { since: parseSince(a.values.since) } : {}),
      ...(before !== undefined ? { before } : {}),
      limit,
    });
    if (ctx.out.json) return ctx.out.data(page);
    if (page.entries.length === 0) return ctx.out.note('No audit entries match.');
    ctx.out.table(
      ['SEQ', 'AT', 'ACTOR', 'ACTION', 'TARGET', 'STATUS', 'FROM'],
      page.entries.map((e) => [
        e.seq,
        e.at,
        e.on_behalf_of ? `${e.actor} (for ${e.on_behalf_of})` : e.actor,
        e.action,
        e.target,
        e.status,
        e.ip,
      ]),
    );
    if (page.next_before !== null) {
      ctx.out.note(`More: gantry audit --before ${page.next_before}${app ? ` --app ${app}` : ''}`);
    }
  },
};
