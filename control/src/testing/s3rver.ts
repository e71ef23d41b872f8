/**
 * An S3-compatible server (s3rver, files in a temporary folder) for tests, on a random loopback
 * port: the S3 files driver is tested against real S3 API shapes and presigned URLs without AWS.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { S3Client } from '@aws-sdk/client-s3';
import S3rver from 's3rver';
import { createS3Client } from '../files/s3-files.ts';

export interface LocalS3 {
  /** e.g. `http://127.0.0.1:41234`: AWS_ENDPOINT_URL_S3. */
  endpoint: string;
  bucket: string;
  /** The standard AWS settings that point the SDK at this server (s3rver's fixed test keys). */
  awsEnv: Record<string, string>;
  client(): S3Client;
  stop(): Promise<void>;
}

export async function startLocalS3(bucket = 'gantry-files'): Promise<LocalS3> {
  const directory = await mkdtemp(path.join(tmpdir(), 'gantry-s3rver-'));
  const server = new S3rver({
    address: '127.0.0.1',
    port: 0,
    silent: process.env.S3RVER_LOG === undefined,
    directory,
    configureBuckets: [{ name: bucket, configs: [] }],
  });
  const { port } = await server.run();
  const endpoint = `http://127.0.0.1:${port}`;
  const awsEnv = {
    AWS_REGION: 'us-east-1',
    AWS_ACCESS_KEY_ID: 'S3RVER',
    AWS_SECRET_ACCESS_KEY: 'S3RVER',
    AWS_ENDPOINT_URL_S3: endpoint,
  };
  return {
    endpoint,
    bucket,
    awsEnv,
    client: () =>
      createS3Client({
        endpoint,
        region: awsEnv.AWS_REGION,
        credentials: { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' },
        maxAttempts: 1,
      }),
    stop: async () => {
      await server.close();
      await rm(directory, { recursive: true, force: true });
    },
  };
}
