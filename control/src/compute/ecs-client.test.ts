/**
 * The one retry policy for ECS calls is the SDK's, configured in createEcsClient. These tests run
 * the real client (signing, serialising, the retry middleware) against a stand-in HTTP handler that
 * answers as ECS does, so what is retried and how often is the SDK's real behaviour.
 */
import { DescribeClustersCommand } from '@aws-sdk/client-ecs';
import { describe, expect, it } from 'vitest';
import { createEcsClient, ECS_MAX_ATTEMPTS } from './ecs-client.ts';

interface Answer {
  status: number;
  body: Record<string, unknown>;
}

/** An ECS endpoint that gives the scripted answers in order, repeating the last one. */
function ecsAnswering(...answers: Answer[]) {
  const calls: string[] = [];
  const client = createEcsClient({
    region: 'us-east-1',
    credentials: { accessKeyId: 'AKIDEXAMPLE', secretAccessKey: 'secret' },
    requestHandler: {
      async handle(request: { headers: Record<string, string> }) {
        calls.push(request.headers['x-amz-target'] ?? '');
        const a = answers[Math.min(calls.length - 1, answers.length - 1)]!;
        return {
          response: {
            statusCode: a.status,
            headers: {
              'content-type': 'application/x-amz-json-1.1',
              'x-amzn-requestid': `req-${calls.length}`,
            },
            body: Buffer.from(JSON.stringify(a.body)),
          },
        };
      },
    },
  });
  return { client, calls };
}

const ok: Answer = { status: 200, body: { clusters: [{ clusterName: 'gantry' }], failures: [] } };
const throttled: Answer = { status: 400, body: { __type: 'ThrottlingException', message: 'Rate exceeded' } };
const unavailable: Answer = {
  status: 503,
  body: { __type: 'ServerException', message: 'Service Unavailable' },
};
const badParameter: Answer = {
  status: 400,
  body: { __type: 'InvalidParameterException', message: 'Unknown cluster field.' },
};
const describeClusters = new DescribeClustersCommand({ clusters: ['gantry'] });

describe('the ECS client retry policy', () => {
  it('retries throttling and server faults, then answers', async () => {
    const { client, calls } = ecsAnswering(throttled, unavailable, ok);
    const out = await client.send(describeClusters);
    expect(out.clusters?.[0]?.clusterName).toBe('gantry');
    expect(calls).toEqual(Array(3).fill('AmazonEC2ContainerServiceV20141113.DescribeClusters'));
    expect(out.$metadata.attempts).toBe(3);
  });

  it('gives up after a bounded number of attempts, with the SDK name and fault intact', async () => {
    const { client, calls } = ecsAnswering(unavailable);
    const err = await client.send(describeClusters).catch((e: unknown) => e);
    expect(err).toMatchObject({ name: 'ServerException', $fault: 'server' });
    expect(calls).toHaveLength(ECS_MAX_ATTEMPTS);
  });

  it('surfaces a client fault after one attempt: it will not go away by trying again', async () => {
    const { client, calls } = ecsAnswering(badParameter, ok);
    const err = await client.send(describeClusters).catch((e: unknown) => e);
    expect(err).toMatchObject({
      name: 'InvalidParameterException',
      $fault: 'client',
      message: 'Unknown cluster field.',
    });
    expect(calls).toHaveLength(1);
  });
});
