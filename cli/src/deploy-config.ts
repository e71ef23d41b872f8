/**
 * What `gantry deploy` deploys from a folder: `gantry.json`, or the `gantry` field of its
 * package.json, with flags on top.
 *
 *   { "app": "acme/echo", "command": ["node", "app.js"], "settings": { "max_multiplexing": 4 },
 *     "scaling": { "keep_alive": 30 }, "auth_mode": "private" }
 */
import { readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { type AppRef, parseAppRef } from './args.ts';
import { usageError } from './exit-codes.ts';

export interface DeployConfig {
  app: AppRef;
  /** Empty for an image deploy: the image says what runs. */
  command: string[];
  cwd: string;
  settings: Record<string, unknown>;
  scaling: Record<string, unknown> | undefined;
  authMode: string | undefined;
  /** Which file the values came from, for messages. */
  source: string;
}

export interface DeployFlags {
  app?: string | undefined;
  env?: string | undefined;
  command?: string | undefined;
  auth?: string | undefined;
}

type Raw = Partial<{
  app: unknown;
  command: unknown;
  settings: unknown;
  scaling: unknown;
  auth_mode: unknown;
}>;

async function readJson(file: string): Promise<unknown | undefined> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch {
    return undefined;
  }
  try {
    return JSON.parse(text);
  } catch (err) {
    throw usageError(`${file} is not valid JSON: ${(err as Error).message}`);
  }
}

/** `["node","app.js"]` as JSON, or words split on spaces. */
export function parseCommand(raw: string): string[] {
  if (raw.trim().startsWith('[')) {
    const v: unknown = JSON.parse(raw);
    if (Array.isArray(v) && v.length > 0 && v.every((x) => typeof x === 'string')) return v;
    throw usageError('--command as JSON must be a non-empty array of strings.');
  }
  const words = raw.split(/\s+/).filter((w) => w !== '');
  if (words.length === 0) throw usageError('--command is empty.');
  return words;
}

const isObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * `image`: an image deploy reads the folder (the current one) for its app, settings, scaling and
 * auth mode only; what runs is the image, so no command is needed and any is ignored.
 */
export async function loadDeployConfig(
  folder: string,
  flags: DeployFlags,
  opts: { image?: boolean } = {},
): Promise<DeployConfig> {
  const dir = path.resolve(folder);
  const st = await stat(dir).catch(() => undefined);
  if (!st)
    throw usageError(`No folder ${dir} to deploy: name the folder that holds the app (and its gantry.json).`);
  if (!st.isDirectory())
    throw usageError(`${dir} is a file: \`gantry deploy\` takes the folder that holds the app.`);
  let raw: Raw = {};
  let source = 'flags';
  const own = await readJson(path.join(dir, 'gantry.json'));
  if (own !== undefined) {
    if (!isObject(own)) throw usageError(`${path.join(dir, 'gantry.json')} must hold a JSON object.`);
    [raw, source] = [own, 'gantry.json'];
  } else {
    const pkg = await readJson(path.join(dir, 'package.json'));
    if (isObject(pkg) && isObject(pkg.gantry)) [raw, source] = [pkg.gantry, 'package.json "gantry"'];
  }
  const appId = flags.app ?? (typeof raw.app === 'string' ? raw.app : undefined);
  if (!appId) {
    throw usageError(`No app to deploy to in ${dir}: pass --app owner/name or set "app" in gantry.json.`);
  }
  let command: string[] | undefined;
  if (opts.image) command = [];
  else if (flags.command) command = parseCommand(flags.command);
  else if (
    Array.isArray(raw.command) &&
    raw.command.every((x) => typeof x === 'string') &&
    raw.command.length > 0
  )
    command = raw.command as string[];
  else if (typeof raw.command === 'string') command = parseCommand(raw.command);
  if (!command) {
    throw usageError(
      `No command to run in ${dir}: pass --command "node app.js" or set "command" in gantry.json.`,
    );
  }
  for (const k of ['settings', 'scaling'] as const) {
    if (raw[k] !== undefined && !isObject(raw[k])) throw usageError(`"${k}" in ${source} must be an object.`);
  }
  return {
    app: parseAppRef(appId, flags.env),
    command,
    cwd: dir,
    settings: (raw.settings as Record<string, unknown> | undefined) ?? {},
    scaling: raw.scaling as Record<string, unknown> | undefined,
    authMode: flags.auth ?? (typeof raw.auth_mode === 'string' ? raw.auth_mode : undefined),
    source,
  };
}
