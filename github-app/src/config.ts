/**
 * The App's configuration, parsed once at start. Mounted in control, the App reads only its
 * GitHub credentials (control owns every other setting); standalone, it also needs control's URL
 * and a key, and keeps its ledger in a database of its own. Nothing else in the App reads
 * process.env.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';

export class GitHubAppConfigError extends Error {
  override name = 'GitHubAppConfigError';
}

/** What the App needs to be the App on GitHub. */
export interface GitHubCredentials {
  appId: number;
  /** PEM. */
  privateKey: string;
  webhookSecret: string;
  /** GitHub Enterprise Server host; unset: github.com. */
  gheHost?: string;
}

export interface StandaloneConfig {
  /** Unset: Probot serves its setup page, which registers the App. */
  github?: GitHubCredentials;
  controlUrl: string;
  controlKey: string;
  /** What callers use, for `environment_url` and comments; default controlUrl. */
  publicUrl: string;
  /** PostgreSQL for the ledger; unset: PGlite in `<dataDir>/github-app`. */
  databaseUrl?: string;
  dataDir: string;
  port: number;
  host?: string;
}

/** Every setting the App reads; the README's GitHub App section documents each with its default. */
export const SETTINGS = [
  'APP_ID',
  'PRIVATE_KEY',
  'PRIVATE_KEY_PATH',
  'WEBHOOK_SECRET',
  'GHE_HOST',
  // Standalone only: mounted, these are control's.
  'GANTRY_URL',
  'GANTRY_KEY',
  'GANTRY_PUBLIC_URL',
  'DATABASE_URL',
  'GANTRY_DATA_DIR',
  'PORT',
  'HOST',
] as const;
const KNOWN: ReadonlySet<string> = new Set(SETTINGS);

type Env = Record<string, string | undefined>;

const value = (env: Env, name: string): string | undefined => {
  const v = env[name]?.trim();
  return v === undefined || v === '' ? undefined : v;
};

/** PEM as given, or with `\n` escapes (one-line environment variables), or base64 of the PEM. */
export function normalizePrivateKey(raw: string): string {
  if (raw.includes('-----BEGIN')) return raw.replace(/\\n/g, '\n');
  const decoded = Buffer.from(raw, 'base64').toString('utf8');
  return decoded.includes('-----BEGIN') ? decoded : raw;
}

/** The credentials, when any is set; every missing or invalid one is named in `problems`. */
function credentials(env: Env, cwd: string, problems: string[]): GitHubCredentials | undefined {
  const id = value(env, 'APP_ID');
  const keyPath = value(env, 'PRIVATE_KEY_PATH');
  let key = value(env, 'PRIVATE_KEY');
  const secret = value(env, 'WEBHOOK_SECRET');
  if (id === undefined && key === undefined && keyPath === undefined && secret === undefined)
    return undefined;
  const before = problems.length;
  const appId = Number(id);
  if (id === undefined) problems.push('APP_ID is required with the other GitHub App settings');
  else if (!Number.isSafeInteger(appId) || appId < 1)
    problems.push(`APP_ID must be a positive whole number, got "${id}"`);
  if (key !== undefined && keyPath !== undefined)
    problems.push('set PRIVATE_KEY or PRIVATE_KEY_PATH, not both');
  else if (key === undefined && keyPath !== undefined) {
    try {
      key = readFileSync(path.resolve(cwd, keyPath), 'utf8');
    } catch (err) {
      problems.push(`PRIVATE_KEY_PATH: cannot read ${keyPath} (${(err as NodeJS.ErrnoException).code})`);
    }
  } else if (key === undefined)
    problems.push('PRIVATE_KEY (or PRIVATE_KEY_PATH) is required with the other GitHub App settings');
  const privateKey = key === undefined ? undefined : normalizePrivateKey(key);
  if (privateKey !== undefined && !privateKey.includes('-----BEGIN')) {
    problems.push(
      `${keyPath === undefined ? 'PRIVATE_KEY' : 'PRIVATE_KEY_PATH'} is not a PEM private key (nor base64 of one)`,
    );
  }
  if (secret === undefined) problems.push('WEBHOOK_SECRET is required with the other GitHub App settings');
  if (problems.length > before) return undefined;
  const gheHost = value(env, 'GHE_HOST');
  return { appId, privateKey: privateKey!, webhookSecret: secret!, ...(gheHost ? { gheHost } : {}) };
}

const fail = (problems: string[]) =>
  new GitHubAppConfigError(`Invalid GitHub App configuration:\n  - ${problems.join('\n  - ')}`);

/**
 * The App inside control: its credentials, or undefined when none is set (control then serves no
 * App). Control's own settings are control's to check.
 */
export function loadMountedConfig(
  env: Env = process.env,
  cwd = process.cwd(),
): GitHubCredentials | undefined {
  const problems: string[] = [];
  const github = credentials(env, cwd, problems);
  if (problems.length > 0) throw fail(problems);
  return github;
}

/** The App on its own (`npm run github-app`). Throws naming every missing, invalid or unknown setting. */
export function loadConfig(env: Env = process.env, cwd = process.cwd()): StandaloneConfig {
  const problems: string[] = [];
  const github = credentials(env, cwd, problems);
  const controlUrl = value(env, 'GANTRY_URL');
  const controlKey = value(env, 'GANTRY_KEY');
  if (!controlUrl) problems.push('GANTRY_URL (where control is) is required');
  else if (!URL.canParse(controlUrl)) problems.push(`GANTRY_URL must be a URL, got "${controlUrl}"`);
  if (!controlKey) problems.push('GANTRY_KEY (an admin key of control) is required');
  const publicUrl = value(env, 'GANTRY_PUBLIC_URL');
  if (publicUrl !== undefined && !URL.canParse(publicUrl)) {
    problems.push(`GANTRY_PUBLIC_URL must be a URL, got "${publicUrl}"`);
  }
  const rawPort = value(env, 'PORT');
  const port = rawPort === undefined ? 3000 : Number(rawPort);
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    problems.push(`PORT must be a whole number from 0 to 65535, got "${rawPort}"`);
  }
  // GANTRY_* names are Gantry's: one the App does not know is a typo, not something to ignore.
  for (const name of Object.keys(env)) {
    if (name.startsWith('GANTRY_') && !KNOWN.has(name) && env[name] !== undefined) {
      problems.push(`${name} is not a setting of the GitHub App (see the README's GitHub App section)`);
    }
  }
  if (problems.length > 0) throw fail(problems);
  const databaseUrl = value(env, 'DATABASE_URL');
  const host = value(env, 'HOST');
  return {
    ...(github ? { github } : {}),
    controlUrl: controlUrl!,
    controlKey: controlKey!,
    publicUrl: publicUrl ?? controlUrl!,
    ...(databaseUrl ? { databaseUrl } : {}),
    dataDir: path.resolve(cwd, value(env, 'GANTRY_DATA_DIR') ?? '.gantry'),
    port,
    ...(host ? { host } : {}),
  };
}
