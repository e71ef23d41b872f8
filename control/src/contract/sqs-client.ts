/**
 * The SQS client control and runners build. The SDK reads the standard AWS settings itself
 * (AWS_REGION, the credentials chain, AWS_ENDPOINT_URL_SQS for a compatible server).
 *
 * - `maxAttempts: 1`: sqs-retry.ts is the one retry policy, so the error's fault decides, once.
 * - `useQueueUrlAsEndpoint: false`: requests go to the configured endpoint, not to the host named
 *   in a queue URL, so AWS_ENDPOINT_URL_SQS (a VPC endpoint, a compatible server) always applies.
 */
import { SQSClient, type SQSClientConfig } from '@aws-sdk/client-sqs';

export function createSqsClient(overrides: SQSClientConfig = {}): SQSClient {
  return new SQSClient({ maxAttempts: 1, useQueueUrlAsEndpoint: false, ...overrides });
}
