/**
 * The runner's settings, parsed once at start from the variables compute drivers set (RUNNER_ENV).
 * Nothing else in the runner reads process.env.
 */
import { freeLoopbackPort } from '../../contract/src/free-port.ts';
import { RUNNER_ENV } from '../../contract/src/runner-protocol.ts';
import { openRunnerToken } from '../../contract/src/runner-token-seal.ts';
import type { SmokeRequest } from '../../contract/src/scaling-settings.ts';
import { parseSmokeSetting } from './smoke-request.ts';

/** What speaks for the runner to control; never handed on to an app it starts. */
const TOKEN_NAMES = new Set<string>([RUNNER_ENV.token, RUNNER_ENV.sealedToken, RUNNER_ENV.runnerKey]);

export interface RunnerConfig {
  controlUrl: string;
  runnerId: string;
  token: string;
  /** argv of the app process; undefined when the app runs beside the runner (ECS sidecar). */
  appCommand: string[] | undefined;
  appCwd: string;
  appPort: number;
  /** The app process's environment: the runner's, minus the runner's token, plus PORT. */
  appEnv: Record<string, string>;
  maxMultiplexing: number;
  startupTimeoutS: number;
  drainGraceS: number;
  /** The app's output arrives relayed on stdin (an app in a container of its own). */
  appOutputOnStdin: boolean;
  /** The app's output arrives posted by a log router on this loopback port (ECS FireLens). */
  appOutputHttpPort?: number;
  /** The deploy gate's smoke request, for a rollout's candidate only (smoke-request.ts). */
  smoke?: SmokeRequest;
  /** Set when the queue is SQS: the runner long-polls these itself (see sqs-job-source.ts). */
  sqs: { normal: string; low: string; leaseS: number } | undefined;
}

/** A setting is missing or invalid; the message names every one. */
export class RunnerConfigError extends Error {
  override readonly name = 'RunnerConfigError';
  constructor(readonly problems: string[]) {
    super(`invalid runner configuration:\n  - ${problems.join('\n  - ')}`);
  }
}

export async function loadConfig(
  env: NodeJS.ProcessEnv = process.env,
  cwd: string = process.cwd(),
): Promise<RunnerConfig> {
  const problems: string[] = [];
  const read = (name: string): string | undefined => {
    const value = env[name]?.trim();
    return value === '' ? undefined : value;
  };
  const required = (name: string): string => {
    const value = read(name);
    if (value === undefined) problems.push(`${name} is required`);
    return value ?? '';
  };
  const number = (name: string, fallback: number, check: (n: number) => boolean, rule: string): number => {
    const raw = read(name);
    if (raw === undefined) return fallback;
    const value = Number(raw);
    if (!check(value)) {
      problems.push(`${name} must be ${rule} (got '${raw}')`);
      return fallback;
    }
    return value;
  };

  const controlUrl = required(RUNNER_ENV.controlUrl);
  if (controlUrl && !isHttpUrl(controlUrl)) {
    problems.push(`${RUNNER_ENV.controlUrl} must be an http(s) URL (got '${controlUrl}')`);
  }
  const runnerId = required(RUNNER_ENV.runnerId);
  // Plain, or sealed under the runner key when the driver's calls are visible to others (ECS).
  const sealedToken = read(RUNNER_ENV.sealedToken);
  const runnerKey = read(RUNNER_ENV.runnerKey);
  let token = '';
  if (sealedToken !== undefined) {
    if (runnerKey === undefined) {
      problems.push(
        `${RUNNER_ENV.sealedToken} is set but ${RUNNER_ENV.runnerKey} is not: the token cannot be opened`,
      );
    } else {
      try {
        token = openRunnerToken(runnerKey, runnerId, sealedToken);
      } catch (err) {
        problems.push(`${RUNNER_ENV.sealedToken}: ${(err as Error).message}`);
      }
    }
  } else {
    token = required(RUNNER_ENV.token);
  }

  let appCommand: string[] | undefined;
  const rawCommand = read(RUNNER_ENV.appCommand);
  if (rawCommand !== undefined) {
    appCommand = parseCommand(rawCommand);
    if (!appCommand) {
      problems.push(
        `${RUNNER_ENV.appCommand} must be a JSON array of strings, e.g. ["node","app.js"] (got '${rawCommand}')`,
      );
    }
  }

  const maxMultiplexing = number(
    RUNNER_ENV.maxMultiplexing,
    1,
    (n) => Number.isInteger(n) && n >= 1 && n <= 100,
    'an integer from 1 to 100',
  );
  const startupTimeoutS = number(
    RUNNER_ENV.startupTimeoutS,
    300,
    (n) => n > 0,
    'a number of seconds above 0',
  );
  const drainGraceS = number(RUNNER_ENV.drainGraceS, 30, (n) => n >= 0, 'a number of seconds, 0 or more');
  const isPort = (n: number) => Number.isInteger(n) && n >= 1 && n <= 65_535;
  const configuredPort = number(RUNNER_ENV.appPort, 0, isPort, 'a port number from 1 to 65535');
  if (configuredPort === 0 && rawCommand === undefined && read(RUNNER_ENV.appPort) === undefined) {
    problems.push(
      `${RUNNER_ENV.appPort} is required when ${RUNNER_ENV.appCommand} is absent (the app runs beside the runner)`,
    );
  }

  const sqsNormal = read(RUNNER_ENV.sqsQueueUrl);
  const sqsLow = read(RUNNER_ENV.sqsLowQueueUrl);
  if ((sqsNormal === undefined) !== (sqsLow === undefined)) {
    problems.push(
      `${RUNNER_ENV.sqsQueueUrl} and ${RUNNER_ENV.sqsLowQueueUrl} are set together or not at all`,
    );
  }
  const leaseS = number(
    RUNNER_ENV.leaseS,
    30,
    (n) => Number.isInteger(n) && n >= 1 && n <= 43_200,
    'whole seconds from 1 to 43200',
  );

  const appOutput = read(RUNNER_ENV.appOutput);
  if (appOutput !== undefined && appOutput !== 'stdin' && appOutput !== 'http') {
    problems.push(`${RUNNER_ENV.appOutput} must be "stdin", "http" or unset (got '${appOutput}')`);
  }
  const appOutputPort = number(RUNNER_ENV.appOutputPort, 0, isPort, 'a port number from 1 to 65535');
  if (appOutput === 'http' && read(RUNNER_ENV.appOutputPort) === undefined) {
    problems.push(`${RUNNER_ENV.appOutputPort} is required when ${RUNNER_ENV.appOutput} is http`);
  }

  const rawSmoke = read(RUNNER_ENV.smoke);
  const smoke = rawSmoke === undefined ? undefined : parseSmokeSetting(rawSmoke);
  if (typeof smoke === 'string') problems.push(`${RUNNER_ENV.smoke} must be ${smoke}`);

  if (problems.length > 0) throw new RunnerConfigError(problems);

  const appPort = configuredPort || (await freeLoopbackPort());
  // The token (plain or sealed, and the key that opens it) speaks for this runner to control, and
  // the runner-only variables (control's AWS credentials) poll its queues: user code has no
  // business holding any of them.
  const runnerOnly = new Set([
    RUNNER_ENV.token,
    RUNNER_ENV.runnerOnly,
    ...(read(RUNNER_ENV.runnerOnly) ?? '').split(',').map((n) => n.trim()),
  ]);
  const appEnv: Record<string, string> = {};
  for (const [name, value] of Object.entries(env)) {
    if (value !== undefined && !TOKEN_NAMES.has(name) && !runnerOnly.has(name)) appEnv[name] = value;
  }
  appEnv['PORT'] = String(appPort);

  return deepFreeze({
    controlUrl,
    runnerId,
    token,
    appCommand,
    appCwd: read(RUNNER_ENV.appCwd) ?? cwd,
    appPort,
    appEnv,
    maxMultiplexing,
    startupTimeoutS,
    drainGraceS,
    appOutputOnStdin: appOutput === 'stdin',
    ...(appOutput === 'http' ? { appOutputHttpPort: appOutputPort } : {}),
    ...(smoke && typeof smoke !== 'string' ? { smoke } : {}),
    sqs: sqsNormal && sqsLow ? { normal: sqsNormal, low: sqsLow, leaseS } : undefined,
  });
}

/** Parsed once, read everywhere: frozen, so a change after start throws instead of half-applying. */
function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null && !Object.isFrozen(value)) {
    for (const v of Object.values(value)) deepFreeze(v);
    Object.freeze(value);
  }
  return value;
}

function parseCommand(raw: string): string[] | undefined {
  try {
    const parsed: unknown = JSON.parse(raw);
    if (Array.isArray(parsed) && parsed.length > 0 && parsed.every((part) => typeof part === 'string')) {
      return parsed;
    }
  } catch {
    // Reported by the caller with the setting's name.
  }
  return undefined;
}

function isHttpUrl(raw: string): boolean {
  try {
    const url = new URL(raw);
    return url.protocol === 'http:' || url.protocol === 'https:';
  } catch {
    return false;
  }
}
