/**
 * Composes the files service from the settings: the driver (data folder or S3) and the secret
 * that signs file URLs (the setting, else `<data dir>/files.key`, made on first start with mode
 * 0600 so URLs handed out survive a restart).
 */
import { randomBytes } from 'node:crypto';
import { chmod, mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { Config } from '../config.ts';
import type { FilesDriver } from './files-driver.ts';
import { FilesService } from './files-service.ts';
import { LocalFiles } from './local-files.ts';
import { createS3Client, S3Files } from './s3-files.ts';
import { UrlSigner } from './signed-url.ts';

export const FILES_KEY_FILE = 'files.key';

type FilesConfig = Pick<
  Config,
  | 'dataDir'
  | 'files'
  | 'filesS3Bucket'
  | 'filesS3Prefix'
  | 'filesS3PathStyle'
  | 'filesMaxBytes'
  | 'filesUploadTtl'
  | 'filesSigningKey'
  | 'retention'
>;

export async function openFiles(
  config: FilesConfig,
  o: { driver?: FilesDriver; clock?: () => number } = {},
): Promise<FilesService> {
  const driver = o.driver ?? filesDriver(config);
  return new FilesService({
    driver,
    signer: new UrlSigner(await signingSecret(config)),
    maxBytes: config.filesMaxBytes,
    uploadTtlS: config.filesUploadTtl,
    uploadRetentionS: config.retention,
    ...(o.clock ? { clock: o.clock } : {}),
  });
}

function filesDriver(config: FilesConfig): FilesDriver {
  if (config.files === 's3') {
    return new S3Files({
      client: createS3Client({ forcePathStyle: config.filesS3PathStyle }),
      bucket: config.filesS3Bucket!,
      prefix: config.filesS3Prefix,
    });
  }
  return new LocalFiles(path.join(config.dataDir, 'files'));
}

async function signingSecret(config: FilesConfig): Promise<Buffer> {
  if (config.filesSigningKey) return decodeSecret(config.filesSigningKey, 'GANTRY_FILES_SIGNING_KEY');
  const file = path.join(config.dataDir, FILES_KEY_FILE);
  const kept = (await readFile(file, 'utf8').catch(() => '')).trim();
  if (kept) return decodeSecret(kept, file);
  const secret = randomBytes(32);
  await mkdir(config.dataDir, { recursive: true });
  await writeFile(file, `${secret.toString('base64')}\n`, { mode: 0o600 });
  await chmod(file, 0o600);
  return secret;
}

function decodeSecret(raw: string, where: string): Buffer {
  const secret = Buffer.from(raw, 'base64');
  if (secret.length < 32) throw new Error(`${where} must be base64 of at least 32 bytes`);
  return secret;
}
