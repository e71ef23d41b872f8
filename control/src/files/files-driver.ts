/**
 * The files port: where uploaded inputs and app output files live. Two drivers pass one contract
 * suite (files.contract.ts): the data folder (embedded default, local-files.ts) and S3
 * (s3-files.ts).
 *
 * Ownership: control decides keys, expiries and who may read or write (signed URLs, signed-url.ts);
 * a driver only stores bytes under keys and, where the backend can, hands out its own presigned
 * URLs. Retention is in the key (see fileKey): the sweep deletes whole expiry buckets, so no table
 * has to remember every file.
 */
import type { Readable } from 'node:stream';

export interface StoredFile {
  contentType: string;
  size: number;
}

export interface FileBody extends StoredFile {
  body: Readable;
}

/** One uploaded part of a multipart upload, as fal's client reports it back on completion. */
export interface UploadedPart {
  partNumber: number;
  etag: string;
}

export interface FilesDriver {
  readonly kind: 'local' | 's3';
  /**
   * A URL the caller PUTs the bytes to directly, with no auth header, valid `expiresS` seconds.
   * Undefined when the backend cannot take uploads itself: control then serves a signed URL.
   */
  directUploadUrl(key: string, contentType: string, expiresS: number): Promise<string | undefined>;
  /** A short-lived URL to read the file from the backend itself; undefined: control streams it. */
  directDownloadUrl(key: string, expiresS: number): Promise<string | undefined>;
  /**
   * Stores a whole file. `size` is the body's length when known (S3 needs it for a stream); the
   * driver refuses a body longer than `maxBytes` with FileTooLargeError and keeps nothing.
   */
  put(
    key: string,
    body: Readable | Uint8Array,
    o: { contentType: string; size?: number; maxBytes: number },
  ): Promise<StoredFile>;
  /** The file, or undefined when there is none under that key. */
  get(key: string): Promise<FileBody | undefined>;
  head(key: string): Promise<StoredFile | undefined>;
  createMultipart(key: string, contentType: string): Promise<string>;
  /** Stores one part (1..10000); answers its etag. Parts may arrive in any order and be retried. */
  uploadPart(
    key: string,
    uploadId: string,
    partNumber: number,
    body: Readable | Uint8Array,
    o: { size?: number; maxBytes: number },
  ): Promise<UploadedPart>;
  /** Joins the parts, in the order given, into the file; an unknown or mismatched etag refuses. */
  completeMultipart(key: string, uploadId: string, parts: UploadedPart[]): Promise<StoredFile>;
  /** Every file whose key starts with `prefix` is removed; answers how many. */
  deletePrefix(prefix: string): Promise<number>;
  /** The first path segments of stored keys (the expiry buckets), for the retention sweep. */
  listBuckets(): Promise<string[]>;
}

export class FileTooLargeError extends Error {
  override name = 'FileTooLargeError';
  constructor(readonly maxBytes: number) {
    super(`The file is larger than the limit of ${maxBytes} bytes.`);
  }
}

export class BadPartsError extends Error {
  override name = 'BadPartsError';
}

/** Expiry buckets are an hour wide: the sweep deletes a bucket once its last hour has passed. */
export const BUCKET_MS = 3_600_000;

/** The bucket a file expiring at `expiresAt` (epoch ms) lives in: a fixed-width, sortable name. */
export function expiryBucket(expiresAt: number): string {
  return `x${String(Math.ceil(expiresAt / BUCKET_MS)).padStart(8, '0')}`;
}

/** Whether every file of this bucket has expired at `now`. */
export function bucketExpired(bucket: string, now: number): boolean {
  const m = /^x(\d{8})$/.exec(bucket);
  return m !== null && Number(m[1]) * BUCKET_MS <= now;
}

/**
 * A file's key: `<expiry bucket>/<scope>/<id>/<file name>`. The scope says whose it is (`env-<id>`
 * for an app's outputs, `up-<owner>` for a caller's uploads); the name keeps the caller's file name
 * so a download is saved under it.
 */
export function fileKey(o: { expiresAt: number; scope: string; id: string; fileName: string }): string {
  return `${expiryBucket(o.expiresAt)}/${o.scope}/${o.id}/${safeFileName(o.fileName)}`;
}

/** The scope segment of a key made by fileKey. */
export function keyScope(key: string): string | undefined {
  return key.split('/')[1];
}

/** A file name as one key segment: no slashes or control characters, at most 200 characters. */
export function safeFileName(name: string): string {
  // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what is removed
  const cleaned = name.replace(/[\u0000-\u001f\u007f/\\]/g, '_').replace(/^\.+/, '_');
  return cleaned.slice(-200) || 'file';
}
