/**
 * The control service's configuration, parsed once at start from the environment. Nothing else in
 * control reads process.env. Each setting is declared once here, with its default and a line of
 * documentation; the README's settings table lists the same names (a test checks it).
 */
import path from 'node:path';

type Parser<T> = (raw: string, name: string) => T;

interface Setting<T> {
  env: string;
  doc: string;
  default: T;
  parse: Parser<T>;
}

class ConfigError extends Error {
  override name = 'ConfigError';
}

const int =
  (min: number, max: number): Parser<number> =>
  (raw, name) => {
    const n = Number(raw);
    if (!Number.isInteger(n) || n < min || n > max) {
      throw new ConfigError(`${name} must be a whole number from ${min} to ${max}, got "${raw}"`);
    }
    return n;
  };
const str: Parser<string> = (raw) => raw;
const optionalStr: Parser<string | undefined> = (raw) => (raw === '' ? undefined : raw);
const bool: Parser<boolean> = (raw, name) => {
  if (['1', 'true', 'yes', 'on'].includes(raw.toLowerCase())) return true;
  if (['0', 'false', 'no', 'off'].includes(raw.toLowerCase())) return false;
  throw new ConfigError(`${name} must be true or false, got "${raw}"`);
};
const oneOf =
  <T extends string>(...values: T[]): Parser<T> =>
  (raw, name) => {
    if ((values as string[]).includes(raw)) return raw as T;
    throw new ConfigError(`${name} must be one of ${values.join(', ')}, got "${raw}"`);
  };

const setting = <T>(env: string, def: T, parse: Parser<T>, doc: string): Setting<T> => ({
  env,
  default: def,
  parse,
  doc,
});

/** Every setting of the control service. */
export const SETTINGS = {
  port: setting('PORT', 8080, int(0, 65535), 'Port the control service listens on.'),
  host: setting('HOST', '127.0.0.1', str, 'Address to listen on; `0.0.0.0` to accept other machines.'),
  dataDir: setting(
    'GANTRY_DATA_DIR',
    '.gantry',
    str,
    'Folder for the embedded database and `admin.key`, relative to the working directory.',
  ),
  databaseUrl: setting(
    'DATABASE_URL',
    undefined as string | undefined,
    optionalStr,
    'PostgreSQL URL. When set, the store (and the embedded queue) use it instead of PGlite.',
  ),
  adminKey: setting(
    'GANTRY_ADMIN_KEY',
    undefined as string | undefined,
    optionalStr,
    'The admin key. Unset: one is generated at first start and kept in `<data dir>/admin.key`.',
  ),
  publicUrl: setting(
    'GANTRY_PUBLIC_URL',
    undefined as string | undefined,
    optionalStr,
    'Base URL callers use to reach control (for `status_url` and friends). Unset: taken from each request.',
  ),
  controlUrl: setting(
    'GANTRY_CONTROL_URL',
    undefined as string | undefined,
    optionalStr,
    'URL runners use to reach control. Unset: `http://127.0.0.1:<port>`.',
  ),
  bodyLimit: setting(
    'GANTRY_BODY_LIMIT',
    10 * 1024 * 1024,
    int(1024, 1024 * 1024 * 1024),
    'Largest request body accepted, in bytes (10 MiB).',
  ),
  queue: setting(
    'GANTRY_QUEUE',
    'embedded' as 'embedded' | 'sqs',
    oneOf('embedded', 'sqs'),
    'Queue driver: `embedded` (the store) or `sqs` (Amazon SQS, with the standard AWS settings).',
  ),
  sqsQueuePrefix: setting(
    'GANTRY_SQS_QUEUE_PREFIX',
    'gantry',
    (raw, name) => {
      if (/^[A-Za-z0-9_-]{1,40}$/.test(raw)) return raw;
      throw new ConfigError(`${name} must be 1-40 letters, digits, "-" or "_", got "${raw}"`);
    },
    'Start of the SQS queue names control creates (one main, low-priority and dead-letter queue per environment).',
  ),
  webhookPrivateKey: setting(
    'GANTRY_WEBHOOK_PRIVATE_KEY',
    undefined as string | undefined,
    optionalStr,
    'Ed25519 private key (PKCS#8 PEM) that signs webhooks. Unset: generated at first start into `<data dir>/webhook-ed25519.pem`.',
  ),
  webhookAllowPrivate: setting(
    'GANTRY_WEBHOOK_ALLOW_PRIVATE',
    false,
    bool,
    'Accept `fal_webhook` URLs that resolve to loopback or private addresses (for private networks and tests).',
  ),
  compute: setting(
    'GANTRY_COMPUTE',
    'process' as const,
    oneOf('process'),
    'Compute driver: `process` (child processes on this machine).',
  ),
  leaseSeconds: setting(
    'GANTRY_LEASE_SECONDS',
    30,
    int(2, 43200),
    'How long a runner holds a request without a heartbeat before it is given to another runner.',
  ),
  tickMs: setting(
    'GANTRY_TICK_MS',
    1000,
    int(50, 60_000),
    'How often the autoscaler looks at every environment.',
  ),
  syncTimeoutSeconds: setting(
    'GANTRY_SYNC_TIMEOUT',
    3600,
    int(1, 86_400),
    'How long `POST /run/...` waits for a result before answering 504 (the request keeps running).',
  ),
  deployExample: setting(
    'GANTRY_DEPLOY_EXAMPLE',
    true,
    bool,
    '`npm start` deploys `examples/hello` as the public endpoint `local/hello`.',
  ),
  logLevel: setting(
    'GANTRY_LOG_LEVEL',
    'info' as const,
    oneOf('fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'),
    'Log level of the control service.',
  ),
} as const;

type Settings = typeof SETTINGS;
export type Config = { [K in keyof Settings]: Settings[K]['default'] } & { dataDir: string };

/** Parse the environment once. Throws a ConfigError naming every bad or unknown setting. */
export function loadConfig(
  env: Record<string, string | undefined> = process.env,
  cwd = process.cwd(),
): Config {
  const problems: string[] = [];
  const out: Record<string, unknown> = {};
  for (const [key, s] of Object.entries(SETTINGS) as [string, Setting<unknown>][]) {
    const raw = env[s.env];
    if (raw === undefined || raw === '') {
      out[key] = s.default;
      continue;
    }
    try {
      out[key] = s.parse(raw.trim(), s.env);
    } catch (err) {
      problems.push((err as Error).message);
    }
  }
  const known = new Set(Object.values(SETTINGS).map((s) => s.env));
  // GANTRY_* names are ours: a typo there would otherwise be silently ignored.
  for (const name of Object.keys(env)) {
    if (name.startsWith('GANTRY_') && !known.has(name) && !RUNNER_SIDE_NAMES.has(name)) {
      problems.push(`${name} is not a setting of the control service (see the README's settings table)`);
    }
  }
  if (problems.length > 0) throw new ConfigError(`Invalid configuration:\n  - ${problems.join('\n  - ')}`);
  const config = out as Config;
  config.dataDir = path.resolve(cwd, config.dataDir);
  return config;
}

/** Names the CLI and the runner read; they may be set in the same shell without being a typo. */
const RUNNER_SIDE_NAMES = new Set(['GANTRY_URL', 'GANTRY_KEY']);

export { ConfigError };
