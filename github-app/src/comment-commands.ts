/**
 * The `/gantry …` comment commands: parsing and the help text. A comment is a command when its
 * first non-empty line starts with `/gantry`; anything after that line is ignored.
 */
import { RUNTIME_SETTINGS } from '../../contract/src/scaling-settings.ts';

export type ParsedCommand =
  | { kind: 'rollback'; environment: string; to?: number }
  | { kind: 'deploy'; environment: string }
  | { kind: 'status' }
  | { kind: 'scale'; environment: string; settings: Record<string, number> }
  | { kind: 'help' };

export type ParseResult =
  | { ok: true; command: ParsedCommand }
  /** A `/gantry` line that is not a valid command: the reason, answered with the help text. */
  | { ok: false; problem: string }
  /** Not addressed to Gantry at all. */
  | { ok: false; problem: undefined };

const ENV = /^(?!.*--)[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;
export const RUNTIME_SETTING_NAMES = Object.keys(RUNTIME_SETTINGS);

export const HELP = [
  '**Gantry commands** (comment on a pull request):',
  '',
  '| command | what it does |',
  '| --- | --- |',
  '| `/gantry rollback [environment] [to <revision>]` | Switch back instantly, no rebuild. Default: production, to the revision before the current one. |',
  "| `/gantry deploy <environment>` | Deploy this pull request's head there (where `.github/gantry.yml` allows it). |",
  '| `/gantry status` | Environments, active revision, runners, queue depth, last rollout. |',
  `| \`/gantry scale <environment> key=value …\` | Change runtime scaling: ${RUNTIME_SETTING_NAMES.map((n) => `\`${n}\``).join(', ')}. |`,
  '| `/gantry help` | This text. |',
  '',
  'Changes need write access to the repository (or what `.github/gantry.yml` asks for).',
].join('\n');

/** Parses a comment body. */
export function parseCommand(body: string): ParseResult {
  const line = body
    .split(/\r?\n/)
    .map((l) => l.trim())
    .find((l) => l !== '');
  if (!line || !/^\/gantry(\s|$)/i.test(line)) return { ok: false, problem: undefined };
  const [, verb, ...args] = line.split(/\s+/);
  switch (verb?.toLowerCase()) {
    case undefined:
    case 'help':
      return { ok: true, command: { kind: 'help' } };
    case 'status':
      return args.length === 0
        ? { ok: true, command: { kind: 'status' } }
        : { ok: false, problem: '`/gantry status` takes no arguments.' };
    case 'rollback':
      return parseRollback(args);
    case 'deploy': {
      const [env, ...rest] = args;
      if (!env || rest.length > 0 || !ENV.test(env))
        return {
          ok: false,
          problem: '`/gantry deploy` needs one environment name, e.g. `/gantry deploy staging`.',
        };
      return { ok: true, command: { kind: 'deploy', environment: env } };
    }
    case 'scale':
      return parseScale(args);
    default:
      return { ok: false, problem: `I don't know the command \`${verb}\`.` };
  }
}

function parseRollback(args: string[]): ParseResult {
  let environment = 'production';
  let rest = args;
  if (rest[0] !== undefined && rest[0].toLowerCase() !== 'to') {
    if (!ENV.test(rest[0])) return { ok: false, problem: `\`${rest[0]}\` is not an environment name.` };
    environment = rest[0];
    rest = rest.slice(1);
  }
  if (rest.length === 0) return { ok: true, command: { kind: 'rollback', environment } };
  const n = Number(rest[1]);
  if (rest.length !== 2 || rest[0]!.toLowerCase() !== 'to' || !Number.isInteger(n) || n < 1) {
    return { ok: false, problem: 'Use `/gantry rollback [environment] [to <revision number>]`.' };
  }
  return { ok: true, command: { kind: 'rollback', environment, to: n } };
}

function parseScale(args: string[]): ParseResult {
  const [environment, ...pairs] = args;
  if (!environment || !ENV.test(environment) || environment.includes('=') || pairs.length === 0) {
    return {
      ok: false,
      problem:
        'Use `/gantry scale <environment> key=value …`, e.g. `/gantry scale production keep_alive=300`.',
    };
  }
  const settings: Record<string, number> = {};
  for (const pair of pairs) {
    const m = /^([a-z_]+)=(.+)$/.exec(pair);
    if (!m) return { ok: false, problem: `\`${pair}\` is not \`key=value\`.` };
    const [, key, raw] = m as unknown as [string, string, string];
    if (!RUNTIME_SETTING_NAMES.includes(key)) {
      return {
        ok: false,
        problem: `\`${key}\` is not a runtime scaling setting; use one of ${RUNTIME_SETTING_NAMES.map((n) => `\`${n}\``).join(', ')}.`,
      };
    }
    const value = Number(raw);
    if (raw.trim() === '' || !Number.isFinite(value)) {
      return { ok: false, problem: `\`${key}\` must be a number, got \`${raw}\`.` };
    }
    settings[key] = value;
  }
  return { ok: true, command: { kind: 'scale', environment, settings } };
}
