/**
 * The SQS client control and runners build. The SDK reads the standard AWS settings itself
 * (AWS_REGION, the credentials chain, AWS_ENDPOINT_URL_SQS for a compatible server).
 *
 * - `maxAttempts: 1`: sqs-retry.ts is the one retry policy, so the error's fault decides, once.
 * - `useQueueUrlAsEndpoint: false`: requests go to the configured endpoint, not to the host named
 *   in a queue URL, so AWS_ENDPOINT_URL_SQS (a VPC endpoint, a compatible server) always applies.
 * - More sockets than the SDK's 50: a burst of submits is a burst of SendMessage calls, and
 *   runners' long polls each hold a socket for up to 20 s.
 */
import { SQSClient, type SQSClientConfig } from '@aws-sdk/client-sqs';

export function createSqsClient(overrides: SQSClientConfig = {}): SQSClient {
  return new SQSClient({
    maxAttempts: 1,
    useQueueUrlAsEndpoint: false,
    requestHandler: { httpAgent: { maxSockets: 256 }, httpsAgent: { maxSockets: 256 } },
    ...overrides,
  });
}
