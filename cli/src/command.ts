/** What a `gantry` command is: its words, help text, options, and what it does. */
import type { ControlApiClient } from '../../contract/src/control-client.ts';
import type { CliConfig } from './cli-config.ts';
import type { Output } from './output.ts';

export interface OptionSpec {
  type: 'string' | 'boolean';
  short?: string;
  multiple?: boolean;
  /** `--name <value>` help line; the value's name in angle brackets for string options. */
  help: string;
  value?: string;
}

export type OptionValues = Record<string, string | boolean | (string | boolean)[] | undefined>;

export interface Args {
  values: OptionValues;
  positionals: string[];
  /** The arguments after the command's words, as typed (for commands that take free-form flags). */
  raw: string[];
}

export interface Context {
  out: Output;
  /** Resolved lazily: commands like `--help` or `login` must work without a reachable control. */
  config(): Promise<CliConfig>;
  api(): Promise<ControlApiClient>;
  env: Record<string, string | undefined>;
}

export interface Command {
  words: string[];
  summary: string;
  /** Arguments after the words, e.g. `<app> KEY=VALUE…`. */
  usage: string;
  examples: string[];
  options?: Record<string, OptionSpec>;
  /** Positional arguments allowed. */
  args: { min: number; max?: number };
  /** Free-form `--name value` pairs are the input (`gantry scale`): no option checking. */
  freeOptions?: boolean;
  run(ctx: Context, a: Args): Promise<void>;
}

/** Options every command takes. */
export const GLOBAL_OPTIONS: Record<string, OptionSpec> = {
  url: {
    type: 'string',
    value: 'url',
    help: 'Control URL (else GANTRY_URL, `gantry login`, or http://127.0.0.1:8080).',
  },
  key: {
    type: 'string',
    value: 'key',
    help: 'Key (else GANTRY_KEY, `gantry login`, or the local admin.key).',
  },
  json: { type: 'boolean', help: 'Print JSON for scripts instead of tables.' },
  help: { type: 'boolean', short: 'h', help: 'Show help for the command.' },
};

/** `--env`, for commands that act on one environment of an app. */
export const ENV_OPTION: Record<string, OptionSpec> = {
  env: {
    type: 'string',
    short: 'e',
    value: 'env',
    help: 'Environment (default production; `owner/name--env` also names one).',
  },
};

/** `--follow` and `--tail N`, as the commands that print a stream of things (logs, events) take them. */
export function followOptions(what: string, tailDefault: number): Record<string, OptionSpec> {
  return {
    follow: { type: 'boolean', short: 'f', help: `Keep printing new ${what} (Ctrl-C to stop).` },
    tail: {
      type: 'string',
      value: 'N',
      help: `How many recent ${what} to start with (default ${tailDefault}, at most 1000).`,
    },
  };
}

/** The page size `--tail` asks for: the default when it is absent or not a positive whole number. */
export function tailLimit(value: unknown, tailDefault: number): number {
  const n = Number(typeof value === 'string' ? value : tailDefault);
  return Number.isInteger(n) && n > 0 ? Math.min(n, 1000) : tailDefault;
}
