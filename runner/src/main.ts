/** The runner process: `node --import tsx runner/src/main.ts`, configured by RUNNER_ENV variables. */
import { createInterface } from 'node:readline';
import { decodeAppOutput, INTAKE_ECHO_PREFIX } from '../../contract/src/app-output-relay.ts';
import { createRunnerClient } from '../../contract/src/runner-client.ts';
import { createSqsClient } from '../../sqs/src/sqs-client.ts';
import { startAppOutputIntake } from './app-output-intake.ts';
import { loadConfig, RunnerConfigError } from './config.ts';
import { controlJobSource } from './control-job-source.ts';
import { adoptSecrets, withInheritedSecrets } from './inherited-secrets.ts';
import type { JobSource } from './job-source.ts';
import { Runner } from './runner.ts';
import { createRunnerLog } from './runner-log.ts';
import { sqsJobSource } from './sqs-job-source.ts';

/** How long a pull may wait at control for work before answering empty. */
const PULL_WAIT_MS = 10_000;

async function main(): Promise<number> {
  let config: Awaited<ReturnType<typeof loadConfig>>;
  try {
    const env = await withInheritedSecrets(process.env);
    config = await loadConfig(env);
    adoptSecrets(process.env, env);
  } catch (err) {
    if (!(err instanceof RunnerConfigError)) throw err;
    process.stderr.write(`[runner] ${err.message}\n`);
    return 2;
  }

  // When whoever reads our output is gone (control restarted), losing log lines is fine; dying of
  // EPIPE is not: the runner keeps serving and reconnects to the new control.
  for (const stream of [process.stdout, process.stderr]) stream.on('error', () => {});
  const log = createRunnerLog(config.runnerId);
  const control = createRunnerClient({
    baseUrl: config.controlUrl,
    runnerId: config.runnerId,
    token: config.token,
  });
  // With SQS, the runner receives from its environment's queues itself (the SDK reads AWS_REGION,
  // credentials and AWS_ENDPOINT_URL_SQS); otherwise control hands out work.
  const jobs: JobSource = config.sqs
    ? sqsJobSource({
        control,
        sqs: createSqsClient(),
        urls: { normal: config.sqs.normal, low: config.sqs.low },
        leaseS: config.sqs.leaseS,
        waitMs: PULL_WAIT_MS,
        log,
      })
    : controlJobSource(control, PULL_WAIT_MS);
  const runner = new Runner({ config, control, jobs, log });

  if (config.appOutputOnStdin) {
    createInterface({ input: process.stdin }).on('line', (text) => {
      const relayed = decodeAppOutput(text);
      if (relayed) runner.appOutput(relayed.line, relayed.stream);
    });
  }

  if (config.appOutputHttpPort !== undefined) {
    const intake = await startAppOutputIntake(config.appOutputHttpPort, (line, stream, at) => {
      runner.appOutput(line, stream, at);
      (stream === 'stderr' ? process.stderr : process.stdout).write(`${INTAKE_ECHO_PREFIX}${line}\n`);
    });
    intake.unref();
  }

  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    process.on(signal, () => runner.drain(signal));
  }
  // The app runs in its own process group, so it would outlive a runner that dies unexpectedly.
  process.on('exit', () => runner.killApp());
  process.on('uncaughtException', (err) => {
    log.error('runner failed', { error: err.stack ?? err.message });
    process.exit(1);
  });
  return runner.run();
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`[runner] failed: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  },
);
