/**
 * The control service's configuration, parsed once at start from the environment. Nothing else in
 * control reads process.env. Each setting is declared once here, with its default and a line of
 * documentation; the README's settings table lists the same names (a test checks it).
 */
import path from 'node:path';
import { DEFAULT_LOG_ROUTER_IMAGE } from './compute/ecs-firelens.ts';
import { parseMasterKey } from './secrets/secret-box.ts';

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
const masterKey: Parser<string | undefined> = (raw, name) => {
  if (raw === '') return undefined;
  try {
    parseMasterKey(raw, name);
  } catch (err) {
    throw new ConfigError((err as Error).message);
  }
  return raw;
};
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

const list: Parser<string[]> = (raw) =>
  raw
    .split(',')
    .map((x) => x.trim())
    .filter((x) => x.length > 0);
const stringMap: Parser<Record<string, string>> = (raw, name) => {
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch {
    throw new ConfigError(`${name} must be a JSON object, e.g. {"GPU-A10G":"gantry-g5"}, got "${raw}"`);
  }
  if (
    typeof parsed !== 'object' ||
    parsed === null ||
    Array.isArray(parsed) ||
    !Object.values(parsed).every((v) => typeof v === 'string' && v.length > 0)
  ) {
    throw new ConfigError(`${name} must map names to non-empty strings, e.g. {"GPU-A10G":"gantry-g5"}`);
  }
  return parsed as Record<string, string>;
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
  secretsKey: setting(
    'GANTRY_SECRETS_KEY',
    undefined as string | undefined,
    masterKey,
    'Master key for secrets at rest: 32 bytes in base64. Unset: generated at first start into `<data dir>/secrets.key`.',
  ),
  secretsKeyId: setting(
    'GANTRY_SECRETS_KEY_ID',
    undefined as string | undefined,
    optionalStr,
    "Id stored beside each secret sealed with the master key. Unset: the key's fingerprint.",
  ),
  secretsOldKeys: setting(
    'GANTRY_SECRETS_OLD_KEYS',
    undefined as string | undefined,
    optionalStr,
    'Earlier master keys, `id:base64` separated by commas, to open secrets sealed before a rotation.',
  ),
  publicUrl: setting(
    'GANTRY_PUBLIC_URL',
    undefined as string | undefined,
    optionalStr,
    'Base URL callers use to reach control (for `status_url` and friends). Unset: the control URL, never the Host header.',
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
  requestBodyTimeoutSeconds: setting(
    'GANTRY_REQUEST_BODY_TIMEOUT',
    60,
    int(1, 3600),
    'Seconds a caller may take to send a whole request (headers and body); slower is 408 and the connection closes.',
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
    'process' as 'process' | 'ecs' | 'docker',
    oneOf('process', 'ecs', 'docker'),
    "Compute driver: `process` (child processes on this machine), `docker` (containers on this machine's Docker-compatible engine) or `ecs` (one ECS task per runner).",
  ),
  processMaxRunners: setting(
    'GANTRY_PROCESS_MAX_RUNNERS',
    0,
    int(0, 100_000),
    'Most runners the `process` driver keeps on this machine at once, across every app; 0: four per CPU. Past it a start waits, recorded as `runner_scheduling_failure`.',
  ),
  dockerHost: setting(
    'DOCKER_HOST',
    'unix:///var/run/docker.sock',
    (raw, name) => {
      if (/^(unix:\/\/\/.+|tcp:\/\/[^/]+:\d+\/?)$/.test(raw)) return raw;
      throw new ConfigError(`${name} must be unix:///path/to/socket or tcp://host:port, got "${raw}"`);
    },
    "The container engine `docker` compute uses, as Docker's own tools read it (podman: `unix:///run/podman/podman.sock`).",
  ),
  dockerConfig: setting(
    'DOCKER_CONFIG',
    undefined as string | undefined,
    optionalStr,
    'Folder of the Docker client configuration whose `config.json` `auths` give registry credentials for pulls. Unset: `~/.docker`.',
  ),
  dockerRunnerImage: setting(
    'GANTRY_DOCKER_RUNNER_IMAGE',
    undefined as string | undefined,
    optionalStr,
    'Runner image (`runner/Containerfile`) started beside each app. Unset: built once on this machine from its Node.js and the bundled runner.',
  ),
  dockerGpus: setting(
    'GANTRY_DOCKER_GPUS',
    0,
    int(0, 64),
    'GPUs the `docker` compute host has (NVIDIA, indices 0..n-1); runners are packed onto them and never share one.',
  ),
  dockerNetwork: setting(
    'GANTRY_DOCKER_NETWORK',
    'host',
    str,
    '`docker` compute: `host` (each app on a port of its own, runners reach control on 127.0.0.1) or an engine network name (then set GANTRY_CONTROL_URL).',
  ),
  ecsCluster: setting('GANTRY_ECS_CLUSTER', 'gantry', str, 'ECS cluster runners run in (`ecs` compute).'),
  ecsSubnets: setting(
    'GANTRY_ECS_SUBNETS',
    [] as string[],
    list,
    'Comma-separated subnet ids for runner tasks (awsvpc); required with `ecs` compute.',
  ),
  ecsSecurityGroups: setting(
    'GANTRY_ECS_SECURITY_GROUPS',
    [] as string[],
    list,
    'Comma-separated security group ids for runner tasks; they must let runners reach control.',
  ),
  ecsCapacityProviders: setting(
    'GANTRY_ECS_CAPACITY_PROVIDERS',
    {} as Record<string, string>,
    stringMap,
    'JSON map from machine type to ECS capacity provider, e.g. `{"GPU-A10G":"gantry-g5","GPU-H100":"gantry-p5"}`.',
  ),
  ecsRunnerImage: setting(
    'GANTRY_ECS_RUNNER_IMAGE',
    undefined as string | undefined,
    optionalStr,
    'Image of the runner sidecar (by digest); required with `ecs` compute.',
  ),
  ecsLogGroup: setting(
    'GANTRY_ECS_LOG_GROUP',
    '/gantry/runners',
    str,
    'CloudWatch Logs group for the runner and log router containers (awslogs).',
  ),
  ecsLogRouterImage: setting(
    'GANTRY_ECS_LOG_ROUTER_IMAGE',
    DEFAULT_LOG_ROUTER_IMAGE,
    str,
    "`ecs` compute: the FireLens log router's image (Fluent Bit), which takes the app's output to the runner.",
  ),
  ecsRegion: setting(
    'GANTRY_ECS_REGION',
    undefined as string | undefined,
    optionalStr,
    'AWS region of the cluster; required with `ecs` compute.',
  ),
  ecsExecutionRoleArn: setting(
    'GANTRY_ECS_EXECUTION_ROLE_ARN',
    undefined as string | undefined,
    optionalStr,
    'Task execution role (pulls images from ECR, writes logs); required with `ecs` compute.',
  ),
  ecsTaskRoleArn: setting(
    'GANTRY_ECS_TASK_ROLE_ARN',
    undefined as string | undefined,
    optionalStr,
    "Role the runner task's containers act as in AWS; `{owner}`, `{name}` and `{env}` are replaced by the app's (a role per app, e.g. `arn:aws:iam::123456789012:role/gantry-app-{owner}-{name}`); unset: none.",
  ),
  ecsRunnerQueue: setting(
    'GANTRY_ECS_RUNNER_QUEUE',
    'control' as 'control' | 'direct',
    oneOf('control', 'direct'),
    '`ecs` with the `sqs` queue: `control` (runners pull through control; the task role needs no SQS rights, so the app has none) or `direct` (runners poll SQS with the task role, which the app container shares).',
  ),
  ecsSecretPrefix: setting(
    'GANTRY_ECS_SECRET_PREFIX',
    'gantry',
    str,
    "`ecs` compute: Secrets Manager names of environments' secrets start `<prefix>/` (the execution role may read `<prefix>/*`).",
  ),
  secretsManagerEndpoint: setting(
    'AWS_ENDPOINT_URL_SECRETS_MANAGER',
    undefined as string | undefined,
    optionalStr,
    '`ecs` compute: the Secrets Manager endpoint, as the AWS SDKs read it; unset: the regional one.',
  ),
  ecsPollMs: setting(
    'GANTRY_ECS_POLL_MS',
    5000,
    int(500, 60_000),
    'How often control asks ECS (DescribeTasks) whether runner tasks have ended.',
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
  deployGateMarginSeconds: setting(
    'GANTRY_DEPLOY_GATE_MARGIN',
    60,
    int(0, 86_400),
    "Seconds a deploy's first runner may take beyond its revision's startup_timeout to become healthy before the deploy fails and the previous revision keeps serving.",
  ),
  snapshotMaxMb: setting(
    'GANTRY_SNAPSHOT_MAX_MB',
    200,
    int(1, 100_000),
    'Largest folder (MB, dependency folders aside) a command revision copies into the data folder when it is registered.',
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
    '`npm start` deploys `examples/hello` as the public endpoint `local/hello` (with `process` compute: it is a local command).',
  ),
  oidcIssuer: setting(
    'GANTRY_OIDC_ISSUER',
    'https://token.actions.githubusercontent.com',
    str,
    'Issuer of the OIDC tokens the Action registers builds with; its JWKS verifies them.',
  ),
  oidcAudience: setting(
    'GANTRY_OIDC_AUDIENCE',
    'gantry',
    str,
    "Audience (`aud`) those tokens must carry: the Action's `audience` input.",
  ),
  buildRepositories: setting(
    'GANTRY_BUILD_REPOSITORIES',
    [] as string[],
    (raw, name) => {
      const items = list(raw, name);
      const bad = items.find((x) => x !== '*' && !/^[A-Za-z0-9_.-]+(\/[A-Za-z0-9_.-]+)?$/.test(x));
      if (bad !== undefined) {
        throw new ConfigError(`${name} must list owners or owner/repository names, got "${bad}"`);
      }
      return items;
    },
    'Owners (`acme`) and repositories (`acme/models`), comma-separated, whose GitHub OIDC tokens may register builds; `*`: any. Unset: the repositories the GitHub App is installed on when it is configured, otherwise any repository whose workflow reaches control (deploy keys are not affected).',
  ),
  auditRetentionDays: setting(
    'GANTRY_AUDIT_RETENTION_DAYS',
    90,
    int(1, 3650),
    'How many days the audit log of management actions is kept (pruned hourly).',
  ),
  trustProxy: setting(
    'GANTRY_TRUST_PROXY',
    false,
    bool,
    "Take the caller's address from `X-Forwarded-For` (set it behind a load balancer, so the audit log records callers, not the balancer).",
  ),
  metricsToken: setting(
    'GANTRY_METRICS_TOKEN',
    undefined as string | undefined,
    optionalStr,
    'Bearer token `GET /metrics` requires (an ADMIN key is always accepted). Unset: `/metrics` is open to anyone who can reach control.',
  ),
  files: setting(
    'GANTRY_FILES',
    'embedded' as 'embedded' | 's3',
    oneOf('embedded', 's3'),
    'Where uploads and output files live: `embedded` (the data folder, served by control) or `s3`.',
  ),
  filesS3Bucket: setting(
    'GANTRY_FILES_S3_BUCKET',
    undefined as string | undefined,
    optionalStr,
    "The S3 bucket for files; required with `GANTRY_FILES=s3` (AWS settings are the SDK's own).",
  ),
  filesS3Prefix: setting(
    'GANTRY_FILES_S3_PREFIX',
    'gantry/',
    str,
    'Key prefix of every file in the bucket, so a bucket can be shared.',
  ),
  filesS3PathStyle: setting(
    'GANTRY_FILES_S3_PATH_STYLE',
    false,
    bool,
    'Address the bucket in the path (S3-compatible servers, `AWS_ENDPOINT_URL_S3`) rather than the host.',
  ),
  filesMaxBytes: setting(
    'GANTRY_FILES_MAX_BYTES',
    1024 * 1024 * 1024,
    int(1, 5 * 1024 ** 4),
    'Largest upload or output file, in bytes.',
  ),
  filesUploadTtl: setting(
    'GANTRY_FILES_UPLOAD_TTL',
    3600,
    int(60, 7 * 86_400),
    'Seconds an `upload_url` works after `storage/upload/initiate`.',
  ),
  filesSigningKey: setting(
    'GANTRY_FILES_SIGNING_KEY',
    undefined as string | undefined,
    optionalStr,
    'Secret (base64, 32 bytes or more) that signs file URLs; unset: kept in `<data dir>/files.key`.',
  ),
  retention: setting(
    'GANTRY_RETENTION',
    7 * 86_400,
    int(1, 10 * 365 * 86_400),
    'Seconds inputs, results, logs and files are kept (one setting for every environment).',
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
  if (out.compute === 'ecs') {
    // The ECS driver cannot start a single runner without these; say so at start, not at the first request.
    const need: [string, boolean][] = [
      ['GANTRY_ECS_SUBNETS', (out.ecsSubnets as string[]).length > 0],
      ['GANTRY_ECS_RUNNER_IMAGE', out.ecsRunnerImage !== undefined],
      ['GANTRY_ECS_REGION', out.ecsRegion !== undefined],
      ['GANTRY_ECS_EXECUTION_ROLE_ARN', out.ecsExecutionRoleArn !== undefined],
      ['GANTRY_ECS_CAPACITY_PROVIDERS', Object.keys(out.ecsCapacityProviders as object).length > 0],
    ];
    for (const [name, ok] of need) if (!ok) problems.push(`${name} is required when GANTRY_COMPUTE=ecs`);
  }
  if (out.compute === 'docker') {
    if (out.dockerNetwork !== 'host' && out.controlUrl === undefined) {
      problems.push(
        'GANTRY_CONTROL_URL is required when GANTRY_DOCKER_NETWORK is not host: runners on that network cannot reach 127.0.0.1',
      );
    }
  }
  if (out.files === 's3' && out.filesS3Bucket === undefined) {
    problems.push('GANTRY_FILES_S3_BUCKET is required when GANTRY_FILES=s3');
  }
  if (problems.length > 0) throw new ConfigError(`Invalid configuration:\n  - ${problems.join('\n  - ')}`);
  const config = out as Config;
  config.dataDir = path.resolve(cwd, config.dataDir);
  return deepFreeze(config);
}

/**
 * Parsed once, read everywhere: frozen, so code that changes a setting after start (and with it
 * what other parts of control already read) throws at once instead of half-applying.
 */
function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null && !Object.isFrozen(value)) {
    for (const v of Object.values(value)) deepFreeze(v);
    Object.freeze(value);
  }
  return value;
}

/** Names the CLI and the runner read; they may be set in the same shell without being a typo. */
const RUNNER_SIDE_NAMES = new Set(['GANTRY_URL', 'GANTRY_KEY']);

export { ConfigError };
