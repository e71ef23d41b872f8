/**
 * An SQS-compatible server (fauxqs, in memory) for tests, on a random loopback port: the SQS driver
 * and direct runners are tested against real SQS API shapes without AWS.
 */
import type { SQSClient } from '@aws-sdk/client-sqs';
import { buildApp } from 'fauxqs';
import { createSqsClient } from '../../../sqs/src/sqs-client.ts';

export interface LocalSqs {
  /** e.g. `http://127.0.0.1:41234`: AWS_ENDPOINT_URL_SQS. */
  endpoint: string;
  /** The standard AWS settings that point the SDK (control's and runners') at this server. */
  awsEnv: Record<string, string>;
  /** A client like control's (`maxAttempts: 1`: sqs-retry.ts is the retry policy). */
  client(endpoint?: string): SQSClient;
  stop(): Promise<void>;
}

export async function startLocalSqs(): Promise<LocalSqs> {
  // buildApp, not startFauxqs: that one listens on every interface, tests stay on loopback.
  const app = buildApp({ logger: false });
  const address = await app.listen({ port: 0, host: '127.0.0.1' });
  const endpoint = address.replace('localhost', '127.0.0.1');
  const awsEnv = {
    AWS_REGION: 'us-east-1',
    AWS_ACCESS_KEY_ID: 'test',
    AWS_SECRET_ACCESS_KEY: 'test',
    AWS_ENDPOINT_URL_SQS: endpoint,
  };
  return {
    endpoint,
    awsEnv,
    client: (at = endpoint) =>
      createSqsClient({
        endpoint: at,
        region: awsEnv.AWS_REGION,
        credentials: { accessKeyId: 'test', secretAccessKey: 'test' },
      }),
    stop: () => app.close(),
  };
}
