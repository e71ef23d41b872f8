/**
 * Runs a test against each queue driver: the embedded one, and SQS on a local SQS-compatible
 * server (fauxqs on loopback). The AWS settings go into this process's environment because that
 * is where the SDK reads them, in control and in the runners it starts: a test switches to SQS
 * exactly as a user does, with settings and nothing else.
 */
import { type LocalSqs, startLocalSqs } from '../../control/src/testing/fauxqs.ts';

export type QueueKind = 'embedded' | 'sqs';

export interface QueueUnderTest {
  kind: QueueKind;
  /** Settings for startTestControl. */
  env: Record<string, string>;
  sqs: LocalSqs | undefined;
  close(): Promise<void>;
}

export async function openQueue(
  kind: QueueKind,
  opts: { endpoint?: (sqs: LocalSqs) => Promise<string> } = {},
): Promise<QueueUnderTest> {
  if (kind === 'embedded') return { kind, env: {}, sqs: undefined, close: async () => {} };
  const sqs = await startLocalSqs();
  const saved = new Map<string, string | undefined>();
  // `endpoint`: put something (a fault-injecting proxy) between Gantry and the server.
  const aws = { ...sqs.awsEnv, AWS_ENDPOINT_URL_SQS: (await opts.endpoint?.(sqs)) ?? sqs.endpoint };
  for (const [k, v] of Object.entries(aws)) {
    saved.set(k, process.env[k]);
    process.env[k] = v;
  }
  return {
    kind,
    env: { GANTRY_QUEUE: 'sqs', GANTRY_SQS_QUEUE_PREFIX: `gantry-test-${process.pid}` },
    sqs,
    async close() {
      for (const [k, v] of saved) {
        if (v === undefined) delete process.env[k];
        else process.env[k] = v;
      }
      await sqs.stop();
    },
  };
}
