/** `gantry scale`: show or change an environment's runtime scaling settings (kept across deploys). */
import { CODE_SETTINGS, RUNTIME_SETTINGS } from '../../../contract/src/scaling-settings.ts';
import { parseAppRef } from '../args.ts';
import { type Command, ENV_OPTION, GLOBAL_OPTIONS, type OptionSpec } from '../command.ts';
import { usageError } from '../exit-codes.ts';

const flag = (name: string) => name.replaceAll('_', '-');

/** One `--keep-alive <n>` line per runtime setting, from the settings table (so help cannot drift). */
const SETTING_OPTIONS: Record<string, OptionSpec> = Object.fromEntries(
  Object.entries(RUNTIME_SETTINGS).map(([name, r]) => [
    flag(name),
    { type: 'string', value: 'n', help: `${r.doc} ${r.min}–${r.max}, default ${r.default}.` },
  ]),
);

/** Settings that come with the code: changed by a deploy, never by `scale`. */
const CODE_NAMES = new Set([...Object.keys(CODE_SETTINGS), 'machine_type', 'smoke']);

export const scaleCommand: Command = {
  words: ['scale'],
  summary: 'Show or change scaling settings (keep_alive, min_concurrency, max_concurrency, …)',
  usage: '<owner/name> [--env E] [--<setting> <value> …]',
  examples: [
    'gantry scale acme/sdxl',
    'gantry scale acme/sdxl --keep-alive 300 --min-concurrency 1 --max-concurrency 8',
  ],
  options: { ...ENV_OPTION, ...SETTING_OPTIONS },
  freeOptions: true,
  args: { min: 1, max: 1 },
  async run(ctx, a) {
    const ref = parseAppRef(a.positionals[0], a.values.env);
    const reserved = new Set([...Object.keys(GLOBAL_OPTIONS), 'env']);
    const patch: Record<string, number> = {};
    for (const [raw, v] of Object.entries(a.values)) {
      if (reserved.has(raw)) continue;
      const k = raw.replaceAll('-', '_');
      if (CODE_NAMES.has(k)) {
        throw usageError(
          `${k} is a code setting: set it in gantry.json and redeploy ("settings": {"${k}": …}). ` +
            '`gantry scale` changes the runtime settings only.',
        );
      }
      const n = Number(v);
      if (typeof v !== 'string' || v.trim() === '' || !Number.isFinite(n)) {
        throw usageError(`--${flag(k)} needs a number, got "${String(v)}".`);
      }
      patch[k] = n;
    }
    const api = await ctx.api();
    const changed = Object.keys(patch).length > 0;
    const settings = changed ? await api.patchScaling(ref, patch) : await api.getScaling(ref);
    if (ctx.out.json) return ctx.out.data({ environment: ref.env, scaling: settings });
    if (changed) ctx.out.note(`Updated ${Object.keys(patch).join(', ')} of ${ref.env}.`);
    ctx.out.table(
      ['SETTING', 'VALUE'],
      Object.entries(settings).map(([k, v]) => [k, v]),
    );
  },
};
