/**
 * Files in an S3 bucket (production). Single uploads and downloads go straight to S3 with
 * presigned URLs, so the bytes never pass through control. Multipart uploads do pass through
 * control: fal's client derives each part's URL from the one it got (`<url>/<n>`, `<url>/complete`)
 * and expects JSON `{partNumber, etag}` back, neither of which a presigned S3 URL can do.
 */

import { type Readable, Transform } from 'node:stream';
import {
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  DeleteObjectsCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
  type S3ClientConfig,
  UploadPartCommand,
} from '@aws-sdk/client-s3';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import {
  BadPartsError,
  type FileBody,
  type FilesDriver,
  FileTooLargeError,
  type StoredFile,
  type UploadedPart,
} from './files-driver.ts';

export interface S3FilesOptions {
  client: S3Client;
  bucket: string;
  /** Keys are stored under this prefix (e.g. `gantry/`), so a bucket can be shared. */
  prefix?: string;
}

/**
 * A client for the files bucket: path-style by default when an endpoint is given (S3-compatible
 * servers).
 * Checksums only where S3 requires them: the SDK's default wraps streamed bodies in aws-chunked
 * framing with a trailer, which S3-compatible servers store as part of the bytes.
 */
export function createS3Client(o: S3ClientConfig): S3Client {
  return new S3Client({
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
    forcePathStyle: o.endpoint !== undefined,
    ...o,
  });
}

export class S3Files implements FilesDriver {
  readonly kind = 's3' as const;
  private readonly client: S3Client;
  private readonly bucket: string;
  private readonly prefix: string;

  constructor(o: S3FilesOptions) {
    this.client = o.client;
    this.bucket = o.bucket;
    this.prefix = o.prefix ?? '';
  }

  directUploadUrl(key: string, contentType: string, expiresS: number): Promise<string> {
    return getSignedUrl(
      this.client,
      new PutObjectCommand({ Bucket: this.bucket, Key: this.prefix + key, ContentType: contentType }),
      { expiresIn: expiresS },
    );
  }

  directDownloadUrl(key: string, expiresS: number): Promise<string> {
    return getSignedUrl(this.client, new GetObjectCommand({ Bucket: this.bucket, Key: this.prefix + key }), {
      expiresIn: expiresS,
    });
  }

  async put(
    key: string,
    body: Readable | Uint8Array,
    o: { contentType: string; size?: number; maxBytes: number },
  ): Promise<StoredFile> {
    const bytes = await bounded(body, o.size, o.maxBytes);
    await this.client.send(
      new PutObjectCommand({
        Bucket: this.bucket,
        Key: this.prefix + key,
        Body: bytes.body,
        ContentLength: bytes.size,
        ContentType: o.contentType,
      }),
    );
    return { contentType: o.contentType, size: bytes.size };
  }

  async get(key: string): Promise<FileBody | undefined> {
    try {
      const out = await this.client.send(
        new GetObjectCommand({ Bucket: this.bucket, Key: this.prefix + key }),
      );
      return {
        body: out.Body as Readable,
        contentType: out.ContentType ?? 'application/octet-stream',
        size: out.ContentLength ?? 0,
      };
    } catch (err) {
      if (isNotFound(err)) return undefined;
      throw err;
    }
  }

  async head(key: string): Promise<StoredFile | undefined> {
    try {
      const out = await this.client.send(
        new HeadObjectCommand({ Bucket: this.bucket, Key: this.prefix + key }),
      );
      return { contentType: out.ContentType ?? 'application/octet-stream', size: out.ContentLength ?? 0 };
    } catch (err) {
      if (isNotFound(err)) return undefined;
      throw err;
    }
  }

  async createMultipart(key: string, contentType: string): Promise<string> {
    const out = await this.client.send(
      new CreateMultipartUploadCommand({
        Bucket: this.bucket,
        Key: this.prefix + key,
        ContentType: contentType,
      }),
    );
    if (!out.UploadId) throw new Error('S3 answered CreateMultipartUpload without an UploadId');
    return out.UploadId;
  }

  async uploadPart(
    key: string,
    uploadId: string,
    partNumber: number,
    body: Readable | Uint8Array,
    o: { size?: number; maxBytes: number },
  ): Promise<UploadedPart> {
    const bytes = await bounded(body, o.size, o.maxBytes);
    try {
      const out = await this.client.send(
        new UploadPartCommand({
          Bucket: this.bucket,
          Key: this.prefix + key,
          UploadId: uploadId,
          PartNumber: partNumber,
          Body: bytes.body,
          ContentLength: bytes.size,
        }),
      );
      return { partNumber, etag: out.ETag ?? '' };
    } catch (err) {
      if ((err as { name?: string }).name === 'NoSuchUpload') throw new BadPartsError('Unknown upload.');
      throw err;
    }
  }

  async completeMultipart(key: string, uploadId: string, parts: UploadedPart[]): Promise<StoredFile> {
    try {
      await this.client.send(
        new CompleteMultipartUploadCommand({
          Bucket: this.bucket,
          Key: this.prefix + key,
          UploadId: uploadId,
          MultipartUpload: { Parts: parts.map((p) => ({ PartNumber: p.partNumber, ETag: p.etag })) },
        }),
      );
    } catch (err) {
      const name = (err as { name?: string }).name;
      if (name === 'InvalidPart' || name === 'InvalidPartOrder' || name === 'NoSuchUpload') {
        throw new BadPartsError((err as Error).message);
      }
      throw err;
    }
    const meta = await this.head(key);
    if (!meta) throw new Error(`S3 completed ${key} but does not have it`);
    return meta;
  }

  async deletePrefix(prefix: string): Promise<number> {
    let deleted = 0;
    let token: string | undefined;
    do {
      const page = await this.client.send(
        new ListObjectsV2Command({
          Bucket: this.bucket,
          Prefix: this.prefix + prefix,
          ContinuationToken: token,
        }),
      );
      const keys = (page.Contents ?? []).flatMap((o) => (o.Key ? [{ Key: o.Key }] : []));
      if (keys.length > 0) {
        await this.client.send(
          new DeleteObjectsCommand({ Bucket: this.bucket, Delete: { Objects: keys, Quiet: true } }),
        );
        deleted += keys.length;
      }
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token);
    return deleted;
  }

  /**
   * A page of keys names the buckets it touches; the next page starts after the last of them
   * (`<bucket>0` sorts after every key in it, `/` being below `0`, and before the next bucket), so
   * a sweep costs about one call per hour that holds files, however many files it holds.
   */
  async listBuckets(): Promise<string[]> {
    const out: string[] = [];
    let after: string | undefined;
    for (;;) {
      const page = await this.client.send(
        new ListObjectsV2Command({ Bucket: this.bucket, Prefix: this.prefix, StartAfter: after }),
      );
      for (const o of page.Contents ?? []) {
        const bucket = (o.Key ?? '').slice(this.prefix.length).split('/')[0]!;
        if (bucket && out.at(-1) !== bucket) out.push(bucket);
      }
      const last = out.at(-1);
      if (!page.IsTruncated || last === undefined) return out;
      after = `${this.prefix}${last}0`;
    }
  }
}

function isNotFound(err: unknown): boolean {
  const e = err as { name?: string; $metadata?: { httpStatusCode?: number } };
  return e.name === 'NoSuchKey' || e.name === 'NotFound' || e.$metadata?.httpStatusCode === 404;
}

/**
 * S3 needs a length up front. A body with a known length streams through a guard that stops it
 * at that length or maxBytes; one without is read into memory, up to maxBytes.
 */
async function bounded(
  body: Readable | Uint8Array,
  size: number | undefined,
  maxBytes: number,
): Promise<{ body: Readable | Uint8Array; size: number }> {
  if (body instanceof Uint8Array) {
    if (body.length > maxBytes) throw new FileTooLargeError(maxBytes);
    return { body, size: body.length };
  }
  if (size !== undefined) {
    if (size > maxBytes) throw new FileTooLargeError(maxBytes);
    let seen = 0;
    const guard = new Transform({
      transform(chunk: Buffer, _enc, done) {
        seen += chunk.length;
        if (seen > size) return done(new Error('The body is longer than its content-length.'));
        done(null, chunk);
      },
    });
    return { body: body.pipe(guard), size };
  }
  const chunks: Buffer[] = [];
  let total = 0;
  for await (const chunk of body as AsyncIterable<Buffer>) {
    total += chunk.length;
    if (total > maxBytes) throw new FileTooLargeError(maxBytes);
    chunks.push(chunk);
  }
  return { body: Buffer.concat(chunks), size: total };
}
