/** `gantry revisions list|delete` and `gantry rollback`: switching revisions is one API call. */

import type { RevisionView } from '../../../contract/src/management-api.ts';
import { parseAppRef } from '../args.ts';
import { type Command, ENV_OPTION } from '../command.ts';
import { CliError, EXIT, usageError } from '../exit-codes.ts';
import { ago } from '../output.ts';

const source = (r: RevisionView) => r.image ?? r.command?.join(' ') ?? '-';

/** `--strategy` of the commands that switch revisions. */
export const STRATEGY_OPTION = (help: string) => ({
  type: 'string' as const,
  value: 'rolling|recreate',
  help,
});

export function parseStrategy(raw: unknown): 'rolling' | 'recreate' | undefined {
  if (raw === undefined) return undefined;
  if (raw === 'rolling' || raw === 'recreate') return raw;
  throw usageError(`--strategy must be rolling or recreate, got "${String(raw)}".`);
}

function revisionNumber(raw: string | undefined, what: string): number {
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 1)
    throw usageError(`${what} must be a revision number (1, 2, …), got "${raw}".`);
  return n;
}

export const revisionCommands: Command[] = [
  {
    words: ['revisions', 'list'],
    summary: 'List revisions of an environment, newest first, with the active one marked',
    usage: '<owner/name> [--env E]',
    examples: ['gantry revisions list acme/sdxl', 'gantry revisions list acme/sdxl --env staging --json'],
    options: ENV_OPTION,
    args: { min: 1, max: 1 },
    async run(ctx, a) {
      const ref = parseAppRef(a.positionals[0], a.values.env);
      const revisions = await (await ctx.api()).listRevisions(ref);
      if (ctx.out.json) return ctx.out.data({ environment: ref.env, revisions });
      if (revisions.length === 0)
        return ctx.out.note(`No revisions in ${ref.env}: \`gantry deploy\` makes one.`);
      ctx.out.table(
        ['REV', 'ACTIVE', 'STATUS', 'CREATED', 'MESSAGE', 'SOURCE'],
        revisions.map((r) => [
          r.number,
          r.active ? '*' : '',
          r.status === 'failed' ? `failed: ${r.failure}` : r.status,
          ago(r.created_at),
          r.message,
          source(r),
        ]),
      );
    },
  },
  {
    words: ['revisions', 'delete'],
    summary: 'Delete a revision that is not active',
    usage: '<owner/name> <number> [--env E]',
    examples: ['gantry revisions delete acme/sdxl 3'],
    options: ENV_OPTION,
    args: { min: 2, max: 2 },
    async run(ctx, a) {
      const ref = parseAppRef(a.positionals[0], a.values.env);
      const n = revisionNumber(a.positionals[1], 'The revision');
      await (await ctx.api()).deleteRevision(ref, n);
      if (ctx.out.json) return ctx.out.data({ deleted: n, environment: ref.env });
      ctx.out.line(`Deleted revision ${n} of ${ref.env}.`);
    },
  },
  {
    words: ['rollback'],
    summary: 'Switch an environment to an earlier revision at once (no rebuild)',
    usage: '<owner/name> [--to N] [--env E] [--strategy rolling|recreate]',
    examples: ['gantry rollback acme/sdxl', 'gantry rollback acme/sdxl --to 12 --env staging'],
    options: {
      to: {
        type: 'string',
        value: 'N',
        help: 'Revision to roll back to (default: the latest earlier one that ran).',
      },
      ...ENV_OPTION,
      strategy: STRATEGY_OPTION(
        'recreate (default): switch now, the current revision takes no more work; rolling: it serves until a runner of the target is healthy.',
      ),
    },
    args: { min: 1, max: 1 },
    async run(ctx, a) {
      const ref = parseAppRef(a.positionals[0], a.values.env);
      const api = await ctx.api();
      const revisions = await api.listRevisions(ref);
      const active = revisions.find((r) => r.active);
      let to: number;
      if (typeof a.values.to === 'string') {
        to = revisionNumber(a.values.to, '--to');
      } else {
        const earlier = revisions.find((r) => active && r.number < active.number && r.status !== 'failed');
        if (!earlier) {
          throw new CliError(
            EXIT.REFUSED,
            `${ref.env} of ${ref.owner}/${ref.name} has no earlier revision that ran to roll back to ` +
              `(revisions: ${revisions.map((r) => r.number).join(', ') || 'none'}).`,
          );
        }
        to = earlier.number;
      }
      const strategy = parseStrategy(a.values.strategy) ?? 'recreate';
      const r = await api.setActiveRevision(ref, {
        revision: to,
        strategy,
        reason: 'gantry rollback',
        by: 'cli',
      });
      const switched = r.active;
      if (ctx.out.json) {
        return ctx.out.data({
          environment: ref.env,
          from: active?.number ?? null,
          to: r.number,
          switched,
          rollout: r.rollout?.state ?? null,
        });
      }
      ctx.out.line(
        switched
          ? `${ref.env} of ${ref.owner}/${ref.name} now serves revision ${r.number}` +
              `${active ? ` (was ${active.number})` : ''}. New requests go to it at once; older runners drain.`
          : `Rolling back ${ref.env} of ${ref.owner}/${ref.name} to revision ${r.number}: revision ` +
              `${active?.number ?? '?'} serves until a runner of ${r.number} is healthy (gantry runners list to watch).`,
      );
    },
  },
];
