/**
 * The install's settings, parsed once from CDK context (`infra/cdk.json`, overridden with
 * `-c name=value`). Values from cdk.json arrive as JSON; values from `-c` arrive as strings, so each
 * parser takes both. Every bad or unknown setting is reported together, by name, before any
 * resource is built.
 */

/** One GPU (or CPU) machine type: the Auto Scaling group that serves it. */
export interface MachinePool {
  /** EC2 instance type, e.g. `g5.xlarge`. */
  instanceType: string;
  /** Largest number of instances the group may grow to. */
  maxInstances: number;
  /** Stopped instances kept ready in an EC2 warm pool (0: none). */
  warmPool: number;
}

export interface InfraSettings {
  /** Prefix of every name the install gives (ECR repositories, SQS queues, capacity providers). */
  name: string;
  /** An existing VPC instead of a new one: its id, with its subnets and zones (no lookups). */
  vpcId?: string;
  availabilityZones: string[];
  privateSubnetIds: string[];
  publicSubnetIds: string[];
  natGateways: number;
  /** Interface endpoints for ECR, SQS, Logs and Secrets Manager (billed per hour and zone). */
  vpcEndpoints: boolean;
  /** ACM certificate for the load balancer's HTTPS listener; unset: plain HTTP, with a warning. */
  certificateArn?: string;
  /** The host name callers use (GANTRY_PUBLIC_URL); unset: taken from each request. */
  domainName?: string;
  controlTasks: number;
  controlCpu: number;
  controlMemoryMiB: number;
  healthCheckPath: string;
  /** How long a sync `/run` waits; the load balancer's idle timeout is a minute longer. */
  syncTimeoutSeconds: number;
  imageTag: string;
  /** Full image references that replace `<registry>/<name>/control:<imageTag>` and the runner's. */
  controlImage?: string;
  runnerImage?: string;
  machineTypes: Record<string, MachinePool>;
  databaseInstanceType: string;
  databaseMultiAz: boolean;
  databaseStorageGiB: number;
  databaseBackupDays: number;
  deletionProtection: boolean;
  /** `owner/name` of each repository whose workflow may push app images. */
  githubRepositories: string[];
  /** The account's GitHub OIDC provider when it already has one (an account holds one per URL). */
  githubOidcProviderArn?: string;
  gheHost?: string;
  alarmEmail?: string;
  /** The 5xx share of control's answers, in percent, that wakes someone. */
  alarm5xxPercent: number;
}

export class InfraSettingsError extends Error {
  override name = 'InfraSettingsError';
}

type Parser<T> = (raw: unknown, key: string) => T;

const fail = (key: string, what: string, raw: unknown): never => {
  throw new InfraSettingsError(`${key} must be ${what}, got ${JSON.stringify(raw)}`);
};

const text =
  (pattern?: RegExp, what = 'a string'): Parser<string> =>
  (raw, key) => {
    if (typeof raw !== 'string' || raw === '' || (pattern && !pattern.test(raw))) fail(key, what, raw);
    return raw as string;
  };

const optional =
  <T>(p: Parser<T>): Parser<T | undefined> =>
  (raw, key) =>
    raw === undefined || raw === '' ? undefined : p(raw, key);

const whole =
  (min: number, max: number): Parser<number> =>
  (raw, key) => {
    const n = typeof raw === 'string' && raw.trim() !== '' ? Number(raw) : raw;
    if (typeof n !== 'number' || !Number.isInteger(n) || n < min || n > max) {
      fail(key, `a whole number from ${min} to ${max}`, raw);
    }
    return n as number;
  };

const flag: Parser<boolean> = (raw, key) => {
  if (typeof raw === 'boolean') return raw;
  if (raw === 'true') return true;
  if (raw === 'false') return false;
  return fail(key, 'true or false', raw);
};

/** A JSON array, or (from `-c`) a comma-separated string. */
const listOf =
  (item: Parser<string>): Parser<string[]> =>
  (raw, key) => {
    let values: unknown = raw;
    if (typeof raw === 'string') {
      values = raw.trim().startsWith('[')
        ? parseJson(raw, key, 'a JSON array or a comma-separated list')
        : raw
            .split(',')
            .map((s) => s.trim())
            .filter((s) => s !== '');
    }
    if (!Array.isArray(values)) return fail(key, 'a list', raw);
    return values.map((v, i) => item(v, `${key}[${i}]`));
  };

function parseJson(raw: string, key: string, what: string): unknown {
  try {
    return JSON.parse(raw);
  } catch {
    return fail(key, what, raw);
  }
}

const REPOSITORY = /^[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})\/[A-Za-z0-9._-]{1,100}$/;
const INSTANCE_TYPE = /^[a-z][a-z0-9-]*\.[a-z0-9]+$/;

const machineTypes: Parser<Record<string, MachinePool>> = (raw, key) => {
  const value = typeof raw === 'string' ? parseJson(raw, key, 'a JSON object') : raw;
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    return fail(key, 'an object from machine type to {instanceType, maxInstances, warmPool}', raw);
  }
  const out: Record<string, MachinePool> = {};
  for (const [type, pool] of Object.entries(value)) {
    const at = `${key}.${type}`;
    if (!/^[A-Z][A-Z0-9-]*$/.test(type)) fail(key, 'keyed by machine types such as GPU-A10G', type);
    if (typeof pool !== 'object' || pool === null) {
      return fail(at, 'an object {instanceType, maxInstances, warmPool}', pool);
    }
    const p = pool as Record<string, unknown>;
    const unknown = Object.keys(p).filter((k) => !['instanceType', 'maxInstances', 'warmPool'].includes(k));
    if (unknown.length > 0) fail(at, 'only instanceType, maxInstances and warmPool', unknown.join(', '));
    const maxInstances = whole(1, 1000)(p.maxInstances ?? 2, `${at}.maxInstances`);
    const warmPool = whole(0, 1000)(p.warmPool ?? 0, `${at}.warmPool`);
    if (warmPool > maxInstances) fail(`${at}.warmPool`, `at most maxInstances (${maxInstances})`, warmPool);
    out[type] = {
      instanceType: text(INSTANCE_TYPE, 'an EC2 instance type such as g5.xlarge')(
        p.instanceType,
        `${at}.instanceType`,
      ),
      maxInstances,
      warmPool,
    };
  }
  if (Object.keys(out).length === 0) fail(key, 'at least one machine type', raw);
  return out;
};

interface Setting<T> {
  parse: Parser<T>;
  default: T;
}
const setting = <T>(parse: Parser<T>, def: T): Setting<T> => ({ parse, default: def });

const SUBNET = /^subnet-[0-9a-f]+$/;

/** Every setting, its parser and its default: the one place they are declared. */
export const SETTINGS: { [K in keyof InfraSettings]-?: Setting<InfraSettings[K]> } = {
  name: setting(text(/^[a-z][a-z0-9-]{0,19}$/, '1-20 lower-case letters, digits or "-"'), 'gantry'),
  vpcId: setting(optional(text(/^vpc-[0-9a-f]+$/, 'a VPC id (vpc-…)')), undefined),
  availabilityZones: setting(listOf(text(/^[a-z]{2}-[a-z]+-\d[a-z]$/, 'a zone name')), []),
  privateSubnetIds: setting(listOf(text(SUBNET, 'a subnet id (subnet-…)')), []),
  publicSubnetIds: setting(listOf(text(SUBNET, 'a subnet id (subnet-…)')), []),
  // Control calls GitHub and the OIDC issuer, and apps fetch models: at least one NAT gateway.
  natGateways: setting(whole(1, 2), 1),
  vpcEndpoints: setting(flag, false),
  certificateArn: setting(
    optional(
      text(/^arn:aws[a-z-]*:acm:[a-z0-9-]+:\d{12}:certificate\/[A-Za-z0-9-]+$/, 'an ACM certificate ARN'),
    ),
    undefined,
  ),
  domainName: setting(
    optional(text(/^[a-z0-9.-]+\.[a-z]{2,}$/, 'a host name such as gantry.example.com')),
    undefined,
  ),
  controlTasks: setting(whole(1, 10), 2),
  controlCpu: setting(whole(256, 4096), 512),
  controlMemoryMiB: setting(whole(512, 30720), 1024),
  healthCheckPath: setting(text(/^\/[A-Za-z0-9/_.-]*$/, 'a path starting with /'), '/healthz'),
  syncTimeoutSeconds: setting(whole(1, 3900), 3600),
  imageTag: setting(text(/^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/, 'an image tag'), 'latest'),
  controlImage: setting(optional(text()), undefined),
  runnerImage: setting(optional(text()), undefined),
  machineTypes: setting(machineTypes, {
    'GPU-A10G': { instanceType: 'g5.xlarge', maxInstances: 2, warmPool: 0 },
  }),
  databaseInstanceType: setting(
    text(INSTANCE_TYPE, 'an RDS instance class without "db.", such as t4g.micro'),
    't4g.micro',
  ),
  databaseMultiAz: setting(flag, false),
  databaseStorageGiB: setting(whole(20, 65536), 20),
  databaseBackupDays: setting(whole(1, 35), 7),
  deletionProtection: setting(flag, true),
  githubRepositories: setting(listOf(text(REPOSITORY, 'a GitHub repository owner/name')), []),
  githubOidcProviderArn: setting(
    optional(text(/^arn:aws[a-z-]*:iam::\d{12}:oidc-provider\/.+$/, 'an IAM OIDC provider ARN')),
    undefined,
  ),
  gheHost: setting(optional(text(/^[a-z0-9.-]+$/, 'a host name')), undefined),
  alarmEmail: setting(optional(text(/^[^@\s]+@[^@\s]+$/, 'an e-mail address')), undefined),
  alarm5xxPercent: setting(whole(1, 100), 5),
};

/** Parses settings from a context lookup; throws one error naming every bad or unknown key. */
export function parseSettings(context: Record<string, unknown>): InfraSettings {
  const problems: string[] = [];
  const out: Record<string, unknown> = {};
  for (const [key, s] of Object.entries(SETTINGS) as [string, Setting<unknown>][]) {
    const raw = context[key];
    if (raw === undefined) {
      out[key] = s.default;
      continue;
    }
    try {
      out[key] = s.parse(raw, key);
    } catch (err) {
      problems.push((err as Error).message);
    }
  }
  const settings = out as unknown as InfraSettings;
  if (problems.length === 0) problems.push(...crossChecks(settings));
  if (problems.length > 0) {
    throw new InfraSettingsError(`Invalid infra settings (cdk.json or -c):\n  - ${problems.join('\n  - ')}`);
  }
  return settings;
}

/** The settings of the install read from a CDK app's context (cdk.json and `-c`). */
export function settingsFromContext(tryGet: (key: string) => unknown): InfraSettings {
  const context: Record<string, unknown> = {};
  for (const key of Object.keys(SETTINGS)) {
    const v = tryGet(key);
    if (v !== undefined) context[key] = v;
  }
  return parseSettings(context);
}

function crossChecks(s: InfraSettings): string[] {
  const problems: string[] = [];
  if (s.vpcId) {
    if (s.privateSubnetIds.length < 2)
      problems.push('vpcId needs privateSubnetIds (two or more, in different zones)');
    if (s.publicSubnetIds.length < 2)
      problems.push('vpcId needs publicSubnetIds (two or more) for the load balancer');
    if (s.availabilityZones.length !== s.privateSubnetIds.length) {
      problems.push('vpcId needs availabilityZones, one per private subnet, in the same order');
    }
  } else if (s.privateSubnetIds.length + s.publicSubnetIds.length + s.availabilityZones.length > 0) {
    problems.push('privateSubnetIds, publicSubnetIds and availabilityZones apply only with vpcId');
  }
  if (/^(aws|ecs|fargate)/.test(s.name)) {
    problems.push('name must not start with aws, ecs or fargate: ECS refuses such capacity provider names');
  }
  const repos = new Set(s.githubRepositories.map((r) => r.toLowerCase()));
  if (repos.size !== s.githubRepositories.length)
    problems.push('githubRepositories lists a repository twice');
  return problems;
}
