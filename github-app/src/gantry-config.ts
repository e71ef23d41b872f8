/**
 * `.github/gantry.yml`: parsed with `yaml` (keeping node positions) and validated against the
 * published JSON schema (github-app/gantry.schema.json), so every problem can point at its line.
 * An invalid file yields problems and no configuration: nothing is ever deployed from it.
 */
import { Ajv, type ErrorObject } from 'ajv';
import { isNode, LineCounter, parseDocument } from 'yaml';
import schema from '../gantry.schema.json' with { type: 'json' };

export const CONFIG_PATH = '.github/gantry.yml';

export type AuthMode = 'private' | 'public' | 'shared';
/** Repository permission levels, weakest first (GitHub's role names). */
export const PERMISSION_LEVELS = ['none', 'read', 'triage', 'write', 'maintain', 'admin'] as const;
export type Permission = (typeof PERMISSION_LEVELS)[number];
export type Command = 'rollback' | 'deploy' | 'scale' | 'status';

export interface EnvironmentConfig {
  scaling?: Record<string, number>;
  permission?: Permission;
  deploy_from_comments?: boolean;
}

export interface GantryConfig {
  app: string;
  auth: AuthMode;
  /** Branch glob → environment, in the file's order (the first match wins). */
  branches: Record<string, string>;
  previews: { enabled: boolean; expireAfterHours: number };
  /** Code-specific settings, sent with every revision. */
  code: {
    machine_type?: string[];
    max_multiplexing?: number;
    startup_timeout?: number;
    num_gpus?: number;
    smoke?: { path: string; input?: unknown; expect_status?: number };
  };
  /** Runtime scaling settings for every environment (per-environment ones override). */
  scaling: Record<string, number>;
  environments: Record<string, EnvironmentConfig>;
  permissions: Record<Command, Permission>;
}

export interface ConfigProblem {
  message: string;
  /** 1-based lines of the offending node in the file. */
  line: number;
  endLine: number;
}

export type ConfigResult = { ok: true; config: GantryConfig } | { ok: false; problems: ConfigProblem[] };

export const DEFAULT_BRANCHES: Record<string, string> = { main: 'production', staging: 'staging' };
export const DEFAULT_PERMISSIONS: Record<Command, Permission> = {
  rollback: 'write',
  deploy: 'write',
  scale: 'write',
  status: 'read',
};

const ajv = new Ajv({ allErrors: true, strict: false });
const validate = ajv.compile(schema);

interface RawConfig {
  app: string;
  auth?: AuthMode;
  branches?: Record<string, string>;
  previews?: { enabled?: boolean; expire_after_hours?: number };
  machine_type?: string | string[];
  max_multiplexing?: number;
  startup_timeout?: number;
  num_gpus?: number;
  smoke?: { path: string; input?: unknown; expect_status?: number };
  scaling?: Record<string, number>;
  environments?: Record<string, EnvironmentConfig>;
  permissions?: Partial<Record<Command, Permission>>;
}

/** Words a user can act on, from one ajv error. */
function describe(e: ErrorObject): string {
  const where = e.instancePath === '' ? 'the file' : `\`${e.instancePath.slice(1).replaceAll('/', '.')}\``;
  switch (e.keyword) {
    case 'additionalProperties':
      return `${where} has an unknown key \`${String(e.params['additionalProperty'])}\``;
    case 'required':
      return `${where} needs \`${String(e.params['missingProperty'])}\``;
    case 'enum':
      return `${where} must be one of ${(e.params['allowedValues'] as unknown[]).map((v) => JSON.stringify(v)).join(', ')}`;
    case 'pattern':
      return `${where} must be lower-case letters, digits and single dashes`;
    default:
      return `${where} ${e.message ?? 'is not valid'}`;
  }
}

/** Parses and validates the file's text. */
export function parseGantryConfig(text: string): ConfigResult {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: false });
  const lines = (range: [number, number] | undefined) => {
    if (!range) return { line: 1, endLine: 1 };
    const line = lineCounter.linePos(range[0]).line;
    // A range ends just past the node; step back so a value ending a line stays on that line.
    const endLine = lineCounter.linePos(Math.max(range[0], range[1] - 1)).line;
    return { line, endLine };
  };
  if (doc.errors.length > 0) {
    return {
      ok: false,
      problems: doc.errors.map((e) => ({
        message: `not valid YAML: ${e.message.split('\n')[0]}`,
        ...lines([e.pos[0], e.pos[1]]),
      })),
    };
  }
  const value: unknown = doc.toJS();
  if (!validate(value)) {
    const errors = (validate.errors ?? []).filter(
      // oneOf reports each failed branch too; the summary line is enough.
      (e) => !(e.schemaPath.includes('/oneOf/') && e.keyword !== 'oneOf'),
    );
    const problems = errors.map((e) => {
      const path = e.instancePath
        .split('/')
        .slice(1)
        .map((p) => p.replaceAll('~1', '/').replaceAll('~0', '~'));
      // An unknown key points at the key itself; anything else at its value.
      if (e.keyword === 'additionalProperties') path.push(String(e.params['additionalProperty']));
      const node = path.length === 0 ? doc.contents : doc.getIn(path, true);
      let range: [number, number] | undefined;
      if (e.keyword === 'additionalProperties') {
        const parent = path.length === 1 ? doc.contents : doc.getIn(path.slice(0, -1), true);
        const pair = (parent as { items?: { key: unknown }[] } | null)?.items?.find(
          (p) => isNode(p.key) && (p.key as { value?: unknown }).value === path[path.length - 1],
        );
        const key = pair?.key as { range?: [number, number, number] } | undefined;
        range = key?.range ? [key.range[0], key.range[1]] : undefined;
      } else if (isNode(node) && node.range) {
        range = [node.range[0], node.range[1]];
      }
      return { message: describe(e), ...lines(range) };
    });
    return {
      ok: false,
      problems: problems.length > 0 ? problems : [{ message: 'not valid', line: 1, endLine: 1 }],
    };
  }
  const raw = value as unknown as RawConfig;
  const code: GantryConfig['code'] = {};
  if (raw.machine_type !== undefined)
    code.machine_type = Array.isArray(raw.machine_type) ? raw.machine_type : [raw.machine_type];
  if (raw.max_multiplexing !== undefined) code.max_multiplexing = raw.max_multiplexing;
  if (raw.startup_timeout !== undefined) code.startup_timeout = raw.startup_timeout;
  if (raw.num_gpus !== undefined) code.num_gpus = raw.num_gpus;
  if (raw.smoke !== undefined) code.smoke = raw.smoke;
  return {
    ok: true,
    config: {
      app: raw.app,
      auth: raw.auth ?? 'private',
      branches: raw.branches ?? DEFAULT_BRANCHES,
      previews: {
        enabled: raw.previews?.enabled ?? false,
        expireAfterHours: raw.previews?.expire_after_hours ?? 168,
      },
      code,
      scaling: raw.scaling ?? {},
      environments: raw.environments ?? {},
      permissions: { ...DEFAULT_PERMISSIONS, ...raw.permissions },
    },
  };
}

/** The runtime scaling settings an environment gets: the file's, then the environment's own. */
export function scalingFor(config: GantryConfig, environment: string): Record<string, number> {
  return { ...config.scaling, ...config.environments[environment]?.scaling };
}

/** The least permission a command needs for an environment: the command's, or the environment's if stricter. */
export function requiredPermission(config: GantryConfig, command: Command, environment?: string): Permission {
  const forCommand = config.permissions[command];
  const forEnv = environment === undefined ? undefined : config.environments[environment]?.permission;
  if (command === 'status' || !forEnv) return forCommand;
  return atLeast(forEnv, forCommand) ? forEnv : forCommand;
}

/** Whether `have` is at least `need`. */
export function atLeast(have: Permission, need: Permission): boolean {
  return PERMISSION_LEVELS.indexOf(have) >= PERMISSION_LEVELS.indexOf(need);
}

/** Whether `/gantry deploy <env>` may put a pull request's head on `environment`. */
export function deployableFromComments(config: GantryConfig, environment: string): boolean {
  return config.environments[environment]?.deploy_from_comments ?? environment !== 'production';
}
