import { GetQueueAttributesCommand, GetQueueUrlCommand, ListQueueTagsCommand } from '@aws-sdk/client-sqs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type LocalSqs, startLocalSqs } from '../testing/fauxqs.ts';
import { queueContract } from './queue.contract.ts';
import { MAX_RECEIVE_COUNT, SqsQueue } from './sqs-queue.ts';

queueContract('the SQS queue (fauxqs)', async () => {
  const sqs = await startLocalSqs();
  const queue = new SqsQueue({ client: sqs.client(), prefix: 'gantry-contract' });
  return {
    queue,
    close: async () => {
      await queue.close();
      await sqs.stop();
    },
  };
});

describe('the SQS queue beyond the contract', () => {
  let sqs: LocalSqs;
  beforeAll(async () => {
    sqs = await startLocalSqs();
  });
  afterAll(async () => {
    await sqs.stop();
  });

  it('derives short, valid names from any environment id', () => {
    const q = new SqsQueue({ client: sqs.client(), prefix: 'p'.repeat(40) });
    const names = q.names('x'.repeat(500));
    for (const n of Object.values(names)) {
      expect(n.length).toBeLessThanOrEqual(80);
      expect(n).toMatch(/^[A-Za-z0-9_-]+$/);
    }
    expect(q.names('a')).not.toEqual(q.names('b'));
    expect(() => new SqsQueue({ client: sqs.client(), prefix: 'bad prefix!' })).toThrow(/prefix/);
  });

  it('creates a main, a low-priority and a dead-letter queue, tagged, with a redrive policy', async () => {
    const client = sqs.client();
    const q = new SqsQueue({ client, prefix: 'gantry-tags' });
    await q.ensure('env-tags', { app: 'acme/echo', environment: 'staging' });
    const names = q.names('env-tags');
    const url = async (QueueName: string) =>
      (await client.send(new GetQueueUrlCommand({ QueueName }))).QueueUrl!;
    const main = await url(names.normal);
    const dlq = await url(names.dlq);
    const tags = await client.send(new ListQueueTagsCommand({ QueueUrl: main }));
    expect(tags.Tags).toMatchObject({ 'gantry:app': 'acme/echo', 'gantry:environment': 'staging' });
    const attrs = await client.send(
      new GetQueueAttributesCommand({ QueueUrl: main, AttributeNames: ['RedrivePolicy'] }),
    );
    const dlqArn = (
      await client.send(new GetQueueAttributesCommand({ QueueUrl: dlq, AttributeNames: ['QueueArn'] }))
    ).Attributes?.QueueArn;
    expect(JSON.parse(attrs.Attributes!.RedrivePolicy!)).toMatchObject({
      deadLetterTargetArn: dlqArn,
      maxReceiveCount: expect.anything(),
    });
    expect(Number(JSON.parse(attrs.Attributes!.RedrivePolicy!).maxReceiveCount)).toBe(MAX_RECEIVE_COUNT);
    // A second control (or a restart) finds the same queues rather than making new ones.
    const again = new SqsQueue({ client, prefix: 'gantry-tags' });
    await again.ensure('env-tags', { app: 'acme/echo', environment: 'staging' });
    expect((await again.runnerAccess('env-tags')).GANTRY_SQS_QUEUE_URL).toBe(main);
  });

  it('creates the queues on first send for an environment deployed before the switch to SQS', async () => {
    const q = new SqsQueue({ client: sqs.client(), prefix: 'gantry-lazy' });
    await q.send('env-old', { request_id: 'r1' }, 'low');
    expect((await q.depth('env-old')).ready).toBe(1);
  });

  it('surfaces client faults with the SDK name and fault, without retrying them', async () => {
    const q = new SqsQueue({ client: sqs.client(), prefix: 'gantry-err' });
    await q.ensure('env-err');
    const huge = 'x'.repeat(2 * 1024 * 1024);
    const err = await q.send('env-err', { request_id: huge }, 'normal').then(
      () => undefined,
      (e: unknown) => e as { name?: string; $fault?: string },
    );
    expect(err?.$fault).toBe('client');
    expect(err?.name).toBeTruthy();
  });
});
