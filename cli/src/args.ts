/**
 * Reading the command line: which command, its options (node's util.parseArgs) and the shapes
 * commands share: app references, KEY=VALUE pairs and free-form `--setting value` pairs.
 */
import { parseArgs } from 'node:util';
import { type Args, type Command, GLOBAL_OPTIONS, type OptionValues } from './command.ts';
import { usageError } from './exit-codes.ts';

export type Parsed =
  | { kind: 'run'; command: Command; args: Args }
  | { kind: 'help'; command?: Command; group?: string };

/** Finds the command whose words start argv (the longest match), then parses the rest. */
export function parseCommandLine(argv: string[], commands: Command[]): Parsed {
  const words: string[] = [];
  for (const a of argv) {
    if (a.startsWith('-')) break;
    words.push(a);
  }
  const wantsHelp = argv.includes('--help') || argv.includes('-h');
  const command = [...commands]
    .sort((a, b) => b.words.length - a.words.length)
    .find((c) => c.words.every((w, i) => words[i] === w));
  if (!command) {
    if (words.length === 0) return { kind: 'help' };
    const group = commands.filter((c) => c.words.length > 1 && c.words[0] === words[0]);
    if (group.length > 0) {
      if (wantsHelp || words.length === 1) return { kind: 'help', group: words[0]! };
      throw usageError(
        `Unknown command "gantry ${words.slice(0, 2).join(' ')}". ${words[0]} has: ${group.map((c) => c.words[1]).join(', ')}.`,
      );
    }
    throw usageError(`Unknown command "${words[0]}". Run \`gantry --help\` for the list.`);
  }
  if (wantsHelp) return { kind: 'help', command };
  const rest = argv.slice(command.words.length);
  return { kind: 'run', command, args: parseOptions(command, rest) };
}

export function parseOptions(command: Command, rest: string[]): Args {
  const name = `gantry ${command.words.join(' ')}`;
  const options = { ...GLOBAL_OPTIONS, ...command.options };
  let values: OptionValues;
  let positionals: string[];
  if (command.freeOptions) {
    ({ values, positionals } = splitFreeOptions(rest, Object.keys(options)));
  } else {
    try {
      ({ values, positionals } = parseArgs({
        args: rest,
        options: Object.fromEntries(
          Object.entries(options).map(([k, o]) => [
            k,
            {
              type: o.type,
              ...(o.short ? { short: o.short } : {}),
              ...(o.multiple ? { multiple: true } : {}),
            },
          ]),
        ),
        allowPositionals: true,
        strict: true,
      }));
    } catch (err) {
      throw usageError(
        `${name}: ${(err as Error).message.replace(/\. To specify.*$/s, '.')} See \`${name} --help\`.`,
      );
    }
  }
  const { min, max } = command.args;
  if (positionals.length < min || (max !== undefined && positionals.length > max)) {
    throw usageError(`Usage: ${name} ${command.usage}\nSee \`${name} --help\` for an example.`);
  }
  return { values, positionals, raw: rest };
}

/**
 * `--a 1 --b=2 x` → {a: '1', b: '2'} and [x], for commands whose options are data (scale). Known
 * boolean options stay booleans; every other `--name` takes the next word as its value.
 */
export function splitFreeOptions(
  argv: string[],
  known: string[],
): { values: OptionValues; positionals: string[] } {
  const values: OptionValues = {};
  const positionals: string[] = [];
  const booleans = new Set(
    Object.entries(GLOBAL_OPTIONS)
      .filter(([, o]) => o.type === 'boolean')
      .map(([k]) => k),
  );
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (!a.startsWith('--')) {
      if (a.startsWith('-') && a.length > 1 && a !== '-e') throw usageError(`Unknown option ${a}.`);
      if (a === '-e') {
        values.env = argv[++i];
        continue;
      }
      positionals.push(a);
      continue;
    }
    const eq = a.indexOf('=');
    const name = a.slice(2, eq < 0 ? undefined : eq);
    if (booleans.has(name)) {
      values[name] = true;
      continue;
    }
    const value = eq >= 0 ? a.slice(eq + 1) : argv[++i];
    if (value === undefined) throw usageError(`Option --${name} needs a value.`);
    values[known.includes(name) ? name : name.replaceAll('-', '_')] = value;
  }
  return { values, positionals };
}

export interface AppRef {
  owner: string;
  name: string;
  env: string;
}

/** `owner/name`, or `owner/name--env` (a non-default environment's endpoint id); --env wins. */
export function parseAppRef(ref: string | undefined, envFlag?: unknown): AppRef {
  const m = /^([a-z0-9][a-z0-9-]*)\/([a-z0-9][a-z0-9-]*?)(?:--([a-z0-9][a-z0-9-]*))?$/.exec(ref ?? '');
  if (!m) {
    throw usageError(
      `"${ref ?? ''}" is not an app: write it as owner/name (lower-case letters, digits and dashes), e.g. acme/sdxl.`,
    );
  }
  const env = typeof envFlag === 'string' && envFlag !== '' ? envFlag : (m[3] ?? 'production');
  return { owner: m[1]!, name: m[2]!, env };
}

/** `KEY=VALUE` pairs; the value may be empty or contain '='. Messages never repeat a value. */
export function parseAssignments(pairs: string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [i, p] of pairs.entries()) {
    const eq = p.indexOf('=');
    if (eq <= 0) {
      // Not echoed: a value typed without its NAME= is still a secret.
      throw usageError(`Expected NAME=VALUE: pair ${i + 1} has ${eq < 0 ? 'no "="' : 'no name before "="'}.`);
    }
    out[p.slice(0, eq)] = p.slice(eq + 1);
  }
  return out;
}
