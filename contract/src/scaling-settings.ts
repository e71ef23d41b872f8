/**
 * Scaling settings, in fal's names and meanings. Runtime-tunable ones live on the environment and
 * survive deploys; code-specific ones come with each revision. One table gives each its default and
 * allowed range, so validation, documentation and the autoscaler agree.
 */
import { GantryError } from './errors.ts';

interface Range {
  min: number;
  max: number;
  default: number;
  /** Whole numbers only (a count); seconds may be fractional. */
  integer: boolean;
  doc: string;
}

export const RUNTIME_SETTINGS = {
  keep_alive: {
    min: 0,
    max: 86_400,
    default: 10,
    integer: false,
    doc: 'Seconds an idle runner is kept before it drains.',
  },
  min_concurrency: {
    min: 0,
    max: 1000,
    default: 0,
    integer: true,
    doc: 'Runners kept even with no traffic.',
  },
  max_concurrency: { min: 1, max: 1000, default: 2, integer: true, doc: 'Most runners at once.' },
  concurrency_buffer: {
    min: 0,
    max: 1000,
    default: 0,
    integer: true,
    doc: 'Extra warm runners beyond current demand.',
  },
  concurrency_buffer_perc: {
    min: 0,
    max: 1000,
    default: 0,
    integer: true,
    doc: 'Extra warm runners as a percentage of demand (the larger of this and concurrency_buffer wins).',
  },
  scaling_delay: {
    min: 0,
    max: 3600,
    default: 0,
    integer: false,
    doc: 'Seconds work must wait before more runners start.',
  },
  request_timeout: {
    min: 1,
    max: 86_400,
    default: 3600,
    integer: false,
    doc: 'Seconds one attempt may run before it is abandoned.',
  },
  termination_grace_period_seconds: {
    min: 0,
    max: 86_400,
    default: 30,
    integer: false,
    doc: 'Seconds a draining runner (a deploy, a scale-down) lets its requests finish before it gives them back.',
  },
  retention: {
    min: 0,
    max: 315_360_000,
    default: 0,
    integer: false,
    doc: "Seconds a completed request's input, result, logs and output files are kept; 0: control's GANTRY_RETENTION.",
  },
  auto_rollback_error_rate: {
    min: 0,
    max: 1,
    default: 0,
    integer: false,
    doc: "Share of a fresh revision's requests failing (5xx) from which control reactivates the previous revision within auto_rollback_window; 0: off.",
  },
  auto_rollback_window: {
    min: 1,
    max: 86_400,
    default: 300,
    integer: false,
    doc: 'Seconds after a rollout switches during which its error rate is watched (auto_rollback_error_rate).',
  },
  auto_rollback_min_requests: {
    min: 1,
    max: 1_000_000,
    default: 20,
    integer: true,
    doc: 'Requests a fresh revision must have answered before its error rate can roll it back.',
  },
} as const satisfies Record<string, Range>;

export const CODE_SETTINGS = {
  max_multiplexing: {
    min: 1,
    max: 1000,
    default: 1,
    integer: true,
    doc: 'Requests one runner serves at once.',
  },
  startup_timeout: {
    min: 1,
    max: 3600,
    default: 300,
    integer: true,
    doc: 'Seconds a runner may take to become healthy.',
  },
  num_gpus: {
    min: 1,
    max: 8,
    default: 1,
    integer: true,
    doc: "GPUs one runner gets, of its machine type's kind (GPU machine types only).",
  },
} as const satisfies Record<string, Range>;

export type RuntimeSettings = { [K in keyof typeof RUNTIME_SETTINGS]: number };
/** num_gpus is kept only when given (revisions made before it have none): read it with gpusOf. */
export type CodeSettings = { [K in Exclude<keyof typeof CODE_SETTINGS, 'num_gpus'>]: number } & {
  num_gpus?: number;
  machine_type: string[];
  /** The deploy gate's smoke request, when the revision names one. */
  smoke?: SmokeRequest;
};

/**
 * A request the first runner of a new revision must answer with `expect_status` before the
 * revision serves (the deploy gate): `POST /{path}` with `input` as JSON.
 */
export interface SmokeRequest {
  path: string;
  input: unknown;
  expect_status: number;
}

/** The smoke request travels in the runner's start settings (ECS overrides hold 8 KB in all). */
export const SMOKE_MAX_CHARS = 4096;
const SMOKE_KEYS = ['path', 'input', 'expect_status'];

/** Validates a revision's `smoke` setting; the path gets a leading slash. */
export function parseSmokeRequest(v: unknown): SmokeRequest {
  const fail = (why: string): never => {
    throw new GantryError('GANTRY_ERR_INVALID_SETTING', `smoke ${why}`, {
      field: 'smoke',
      allowed: SMOKE_KEYS,
    });
  };
  if (typeof v !== 'object' || v === null || Array.isArray(v)) {
    return fail('must be an object: { "path": "/predict", "input": {…}, "expect_status": 200 }.');
  }
  const o = v as Record<string, unknown>;
  const unknown = Object.keys(o).filter((k) => !SMOKE_KEYS.includes(k));
  if (unknown.length > 0)
    fail(`has unknown key ${unknown.map((k) => `"${k}"`).join(', ')}; use ${SMOKE_KEYS.join(', ')}.`);
  const path = o['path'];
  if (typeof path !== 'string' || /[\s?#]/.test(path) || path.length > 500) {
    fail('needs "path": the endpoint path to call, without spaces, query or fragment (e.g. "/predict").');
  }
  const status = o['expect_status'] ?? 200;
  if (typeof status !== 'number' || !Number.isInteger(status) || status < 100 || status > 599) {
    fail(`expect_status must be an HTTP status from 100 to 599, got ${JSON.stringify(status)}.`);
  }
  const smoke: SmokeRequest = {
    path: (path as string).startsWith('/') ? (path as string) : `/${path as string}`,
    input: o['input'] ?? {},
    expect_status: status as number,
  };
  if (JSON.stringify(smoke).length > SMOKE_MAX_CHARS) {
    fail(
      `must be at most ${SMOKE_MAX_CHARS} characters as JSON (it travels in the runner's start settings).`,
    );
  }
  return smoke;
}

/** GPUs one runner of these settings gets on a machine type with `perType` GPUs (0 stays 0). */
export function gpusOf(settings: Pick<CodeSettings, 'num_gpus'>, perType: number): number {
  return perType === 0 ? 0 : perType * (settings.num_gpus ?? CODE_SETTINGS.num_gpus.default);
}

export const DEFAULT_MACHINE_TYPE = ['CPU'];

/**
 * The machine types a revision may ask for (fal's names). Control's driver sizes each
 * (control/src/compute/machine-types.ts, tied to this list by a test); any other name would
 * crash-loop at start, so a revision naming one is refused at the door.
 */
export const MACHINE_TYPE_NAMES = ['CPU', 'GPU-A10G', 'GPU-L4', 'GPU-A100', 'GPU-H100'] as const;

function defaults<T extends Record<string, Range>>(table: T): { [K in keyof T]: number } {
  return Object.fromEntries(Object.entries(table).map(([k, r]) => [k, r.default])) as {
    [K in keyof T]: number;
  };
}

function check(table: Record<string, Range>, key: string, value: unknown): number {
  // Own keys only: `constructor`, `toString` and the rest of Object.prototype are not settings.
  const r = Object.hasOwn(table, key) ? table[key] : undefined;
  if (!r) {
    throw new GantryError('GANTRY_ERR_INVALID_SETTING', `Unknown setting "${key}".`, {
      field: key,
      allowed: Object.keys(table),
    });
  }
  if (typeof value !== 'number' || !Number.isFinite(value) || value < r.min || value > r.max) {
    throw new GantryError(
      'GANTRY_ERR_INVALID_SETTING',
      `${key} must be a number from ${r.min} to ${r.max}, got ${JSON.stringify(value)}.`,
      { field: key, min: r.min, max: r.max },
    );
  }
  if (r.integer && !Number.isInteger(value)) {
    throw new GantryError('GANTRY_ERR_INVALID_SETTING', `${key} must be a whole number, got ${value}.`, {
      field: key,
      min: r.min,
      max: r.max,
    });
  }
  return value;
}

/** Applies a partial update to runtime settings, validating every field and the min ≤ max rule. */
export function mergeRuntimeSettings(
  current: Partial<RuntimeSettings>,
  patch: Record<string, unknown>,
): RuntimeSettings {
  const next: RuntimeSettings = { ...defaults(RUNTIME_SETTINGS), ...current };
  for (const [k, v] of Object.entries(patch))
    (next as Record<string, number>)[k] = check(RUNTIME_SETTINGS, k, v);
  if (next.min_concurrency > next.max_concurrency) {
    throw new GantryError(
      'GANTRY_ERR_INVALID_SETTING',
      `min_concurrency (${next.min_concurrency}) must not exceed max_concurrency (${next.max_concurrency}).`,
      { field: 'min_concurrency', min: 0, max: next.max_concurrency },
    );
  }
  return next;
}

/** Validates the code-specific settings of a new revision, filling defaults. */
export function parseCodeSettings(input: Record<string, unknown> = {}): CodeSettings {
  const { num_gpus: _, ...filled } = defaults(CODE_SETTINGS);
  const out: CodeSettings = { ...filled, machine_type: DEFAULT_MACHINE_TYPE };
  for (const [k, v] of Object.entries(input)) {
    if (k === 'machine_type') {
      const list = typeof v === 'string' ? [v] : v;
      if (
        !Array.isArray(list) ||
        list.length === 0 ||
        !list.every((m) => typeof m === 'string' && m.length > 0)
      ) {
        throw new GantryError(
          'GANTRY_ERR_INVALID_SETTING',
          'machine_type must be a machine type name or a non-empty list of them.',
          { field: 'machine_type' },
        );
      }
      const unknown = (list as string[]).filter(
        (m) => !(MACHINE_TYPE_NAMES as readonly string[]).includes(m),
      );
      if (unknown.length > 0) {
        throw new GantryError(
          'GANTRY_ERR_INVALID_SETTING',
          `Unknown machine_type ${unknown.map((m) => JSON.stringify(m)).join(', ')}; use one of ${MACHINE_TYPE_NAMES.join(', ')}.`,
          { field: 'machine_type', allowed: [...MACHINE_TYPE_NAMES] },
        );
      }
      out.machine_type = list as string[];
      continue;
    }
    if (k === 'smoke') {
      out.smoke = parseSmokeRequest(v);
      continue;
    }
    (out as unknown as Record<string, number>)[k] = check(CODE_SETTINGS, k, v);
  }
  return out;
}

/**
 * The JSON Schema of a settings table's fields, as `.github/gantry.yml`'s published schema states
 * them (github-app/gantry.schema.json); a test there keeps the two equal.
 */
export function settingsJsonSchema(
  table: Record<string, Range>,
): Record<string, { type: 'integer' | 'number'; minimum: number; maximum: number }> {
  return Object.fromEntries(
    Object.entries(table).map(([k, r]) => [
      k,
      { type: r.integer ? 'integer' : 'number', minimum: r.min, maximum: r.max },
    ]),
  );
}
