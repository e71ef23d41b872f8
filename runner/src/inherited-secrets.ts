/**
 * The runner's secrets handed over on an inherited file descriptor (RUNNER_ENV.secretsFd) rather
 * than in its environment: /proc/<pid>/environ shows a process's environment as it was exec'd, to
 * every process of the same user, its own app included, so a token there could be read whatever
 * the runner does later. Read once, before loadConfig.
 */
import { Socket } from 'node:net';
import { RUNNER_ENV } from '../../contract/src/runner-protocol.ts';
import { RunnerConfigError } from './config.ts';

/** A driver that opened the descriptor writes it at once; this bounds a runner started by hand. */
const READ_TIMEOUT_MS = 30_000;

/** The names that speak for the runner to control: kept in its config, never in its process.env. */
const TOKEN_NAMES = [RUNNER_ENV.token, RUNNER_ENV.sealedToken, RUNNER_ENV.runnerKey];

/**
 * The environment loadConfig reads: `env` completed with the secrets on the descriptor, each
 * marked runner-only so the app never gets it. `env` itself when the driver passed none this way.
 */
export async function withInheritedSecrets(env: NodeJS.ProcessEnv): Promise<NodeJS.ProcessEnv> {
  const raw = env[RUNNER_ENV.secretsFd];
  if (raw === undefined) return env;
  const fd = Number(raw);
  if (!Number.isInteger(fd) || fd < 3) {
    throw new RunnerConfigError([
      `${RUNNER_ENV.secretsFd} must be a file descriptor number, 3 or more (got '${raw}')`,
    ]);
  }
  const secrets = parseSecrets(await readToEnd(fd));
  const { [RUNNER_ENV.secretsFd]: _, ...rest } = env;
  const runnerOnly = [env[RUNNER_ENV.runnerOnly] ?? '', ...Object.keys(secrets)].filter(Boolean).join(',');
  return { ...rest, ...secrets, [RUNNER_ENV.runnerOnly]: runnerOnly };
}

/**
 * Leaves in the runner's own process.env what its libraries read there (the AWS SDK: region,
 * credentials, endpoint) and takes the token out: config holds it, and nothing else should.
 */
export function adoptSecrets(own: NodeJS.ProcessEnv, loaded: NodeJS.ProcessEnv): void {
  for (const name of (loaded[RUNNER_ENV.runnerOnly] ?? '').split(',')) {
    const value = loaded[name];
    if (name && value !== undefined && !TOKEN_NAMES.includes(name as never)) own[name] = value;
  }
  for (const name of TOKEN_NAMES) delete own[name];
  delete own[RUNNER_ENV.secretsFd];
}

function readToEnd(fd: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = new Socket({ fd, readable: true, writable: false });
    const chunks: Buffer[] = [];
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new RunnerConfigError([`${RUNNER_ENV.secretsFd}: nothing was written to descriptor ${fd}`]));
    }, READ_TIMEOUT_MS);
    socket.on('data', (c: Buffer) => chunks.push(c));
    socket.once('error', (err) => {
      clearTimeout(timer);
      reject(
        new RunnerConfigError([`${RUNNER_ENV.secretsFd}: descriptor ${fd} cannot be read (${err.message})`]),
      );
    });
    socket.once('end', () => {
      clearTimeout(timer);
      // Closed here, so the app the runner starts later cannot inherit it.
      socket.destroy();
      resolve(Buffer.concat(chunks).toString('utf8'));
    });
  });
}

function parseSecrets(text: string): Record<string, string> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    parsed = undefined;
  }
  if (
    typeof parsed !== 'object' ||
    parsed === null ||
    Array.isArray(parsed) ||
    !Object.values(parsed).every((v) => typeof v === 'string')
  ) {
    throw new RunnerConfigError([
      `${RUNNER_ENV.secretsFd}: expected a JSON object of strings on the descriptor`,
    ]);
  }
  return parsed as Record<string, string>;
}
