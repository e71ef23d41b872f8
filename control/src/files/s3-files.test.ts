import { startLocalS3 } from '../testing/s3rver.ts';
import { filesContract } from './files.contract.ts';
import { S3Files } from './s3-files.ts';

filesContract('S3 (s3rver)', async () => {
  const s3 = await startLocalS3();
  const client = s3.client();
  return {
    driver: new S3Files({ client, bucket: s3.bucket, prefix: 'gantry/' }),
    close: async () => {
      client.destroy();
      await s3.stop();
    },
  };
});
