/**
 * Files as fal's clients see them: `storage/upload/initiate` (and `-multipart`) answer
 * `{upload_url, file_url}`; an app's output file comes back as `{url, content_type, file_name,
 * file_size}`. This service makes the keys and the signed URLs, checks them when they come back
 * (files-routes.ts) and sweeps what retention removed. The bytes are the driver's business.
 */
import { randomUUID } from 'node:crypto';
import type { Readable } from 'node:stream';
import type { FalFile } from '../../../contract/src/app-files.ts';
import { GantryError } from '../../../contract/src/errors.ts';
import {
  BadPartsError,
  bucketExpired,
  type FileBody,
  type FilesDriver,
  FileTooLargeError,
  fileKey,
  keyScope,
  safeFileName,
  type UploadedPart,
} from './files-driver.ts';
import { keyToPath, type SignedFields, type UrlSigner } from './signed-url.ts';

export interface UploadTarget {
  upload_url: string;
  file_url: string;
}

export interface FilesServiceOptions {
  driver: FilesDriver;
  signer: UrlSigner;
  /** Largest file, in bytes, whichever way it arrives. */
  maxBytes: number;
  /** Seconds an upload URL works after initiate. */
  uploadTtlS: number;
  /** Seconds a caller's upload is kept (files are not tied to an environment when uploaded). */
  uploadRetentionS: number;
  clock?: () => number;
}

/** Where control's files routes live, under the public URL. */
export const FILES_PREFIX = '/files';

/** A read redirects to the backend's own URL (S3) for this long: enough to start a download. */
const DIRECT_READ_TTL_S = 300;

export class FilesService {
  constructor(private readonly o: FilesServiceOptions) {}

  get maxBytes(): number {
    return this.o.maxBytes;
  }

  private now(): number {
    return (this.o.clock ?? Date.now)();
  }

  /** Scope of a caller's uploads: the key's owner, so one owner's files are apart from another's. */
  static uploadScope(owner: string | null): string {
    return `up-${(owner ?? 'admin').replace(/[^a-zA-Z0-9-]/g, '_')}`;
  }

  static envScope(environmentId: string): string {
    return `env-${environmentId}`;
  }

  /** A single upload: fal's client PUTs the whole body to `upload_url`. */
  async initiateUpload(
    base: string,
    o: { scope: string; contentType: string; fileName: string },
  ): Promise<UploadTarget> {
    const expiresAt = this.now() + this.o.uploadRetentionS * 1000;
    const key = fileKey({ expiresAt, scope: o.scope, id: randomUUID(), fileName: o.fileName });
    const exp = this.expSeconds(this.o.uploadTtlS);
    const direct = await this.o.driver.directUploadUrl(key, o.contentType, this.o.uploadTtlS);
    const upload_url = direct ?? this.url(base, { op: 'u', subject: key, exp, extra: { ct: o.contentType } });
    return { upload_url, file_url: this.fileUrl(base, key, expiresAt) };
  }

  /**
   * A multipart upload: fal's client PUTs part n to `<upload_url path>/<n>` and completes with
   * `POST <upload_url path>/complete`, keeping the query string, so the capability rides there.
   */
  async initiateMultipart(
    base: string,
    o: { scope: string; contentType: string; fileName: string },
  ): Promise<UploadTarget> {
    const expiresAt = this.now() + this.o.uploadRetentionS * 1000;
    const key = fileKey({ expiresAt, scope: o.scope, id: randomUUID(), fileName: o.fileName });
    const upload = await this.o.driver.createMultipart(key, o.contentType);
    const exp = this.expSeconds(this.o.uploadTtlS);
    return {
      upload_url: this.url(base, { op: 'm', subject: key, exp, extra: { upload } }),
      file_url: this.fileUrl(base, key, expiresAt),
    };
  }

  /**
   * The URL an app PUTs its output files to while it serves one request (`?file_name=` added by
   * the SDK). Valid `ttlS` seconds; files are kept `retentionS`.
   */
  outputUploadUrl(base: string, o: { scope: string; retentionS: number; ttlS: number }): string {
    return this.url(base, {
      op: 'o',
      subject: o.scope,
      exp: this.expSeconds(o.ttlS),
      extra: { keep: String(o.retentionS) },
    });
  }

  fileUrl(base: string, key: string, expiresAt: number): string {
    return this.url(base, { op: 'f', subject: key, exp: Math.ceil(expiresAt / 1000) });
  }

  /** Checks a signed URL as it comes back; throws the error its caller should see. */
  check(f: SignedFields, sig: string | undefined): void {
    const verdict = this.o.signer.verify(f, sig, this.now());
    if (verdict === 'invalid') throw new GantryError('GANTRY_ERR_FILE_URL_INVALID');
    if (verdict === 'expired') {
      throw new GantryError(f.op === 'f' ? 'GANTRY_ERR_FILE_EXPIRED' : 'GANTRY_ERR_FILE_URL_EXPIRED');
    }
  }

  async receiveUpload(key: string, contentType: string, body: Readable, size?: number): Promise<void> {
    await this.guard(() =>
      this.o.driver.put(key, body, { contentType, maxBytes: this.o.maxBytes, ...sized(size) }),
    );
  }

  async receivePart(
    key: string,
    upload: string,
    partNumber: number,
    body: Readable,
    size?: number,
  ): Promise<UploadedPart> {
    const part = await this.guard(() =>
      this.o.driver.uploadPart(key, upload, partNumber, body, { maxBytes: this.o.maxBytes, ...sized(size) }),
    );
    return { partNumber, etag: `${part.etag}.${this.o.signer.sign(partFields(key, upload, part))}` };
  }

  /**
   * Etags come back signed by receivePart, so a part that was never uploaded here is refused the
   * same way on every backend (S3 checks etags itself; S3-compatible servers do not all do so).
   */
  async completeMultipart(key: string, upload: string, parts: UploadedPart[]): Promise<void> {
    const own = parts.map((p) => {
      const i = p.etag.lastIndexOf('.');
      const part = { partNumber: p.partNumber, etag: p.etag.slice(0, Math.max(0, i)) };
      if (i < 0 || !this.o.signer.matches(partFields(key, upload, part), p.etag.slice(i + 1))) {
        throw new GantryError(
          'GANTRY_ERR_BAD_UPLOAD_PARTS',
          `Part ${p.partNumber} was not uploaded here with etag ${p.etag}.`,
        );
      }
      return part;
    });
    const stored = await this.guard(() => this.o.driver.completeMultipart(key, upload, own));
    if (stored.size > this.o.maxBytes) {
      // Parts are each under the limit; the whole is checked here, and not kept when over.
      await this.o.driver.deletePrefix(key);
      throw new GantryError('GANTRY_ERR_FILE_TOO_LARGE');
    }
  }

  /** Stores one output file of an app; answers fal's file object. */
  async receiveOutput(
    base: string,
    o: {
      scope: string;
      retentionS: number;
      fileName: string;
      contentType: string;
      body: Readable;
      size?: number;
    },
  ): Promise<FalFile> {
    const expiresAt = this.now() + o.retentionS * 1000;
    const fileName = safeFileName(o.fileName);
    const key = fileKey({ expiresAt, scope: o.scope, id: randomUUID(), fileName });
    const stored = await this.guard(() =>
      this.o.driver.put(key, o.body, {
        contentType: o.contentType,
        maxBytes: this.o.maxBytes,
        ...sized(o.size),
      }),
    );
    return {
      url: this.fileUrl(base, key, expiresAt),
      content_type: stored.contentType,
      file_name: fileName,
      file_size: stored.size,
    };
  }

  /** A read: the backend's own short-lived URL to redirect to, or the bytes. */
  async read(key: string): Promise<{ redirect: string } | { file: FileBody }> {
    const direct = await this.o.driver.directDownloadUrl(key, DIRECT_READ_TTL_S);
    if (direct) return { redirect: direct };
    const file = await this.o.driver.get(key);
    if (!file) throw new GantryError('GANTRY_ERR_FILE_NOT_FOUND');
    return { file };
  }

  /** The environment an output file belongs to, from its URL path; undefined for uploads. */
  static environmentOfKey(key: string): string | undefined {
    const scope = keyScope(key);
    return scope?.startsWith('env-') ? scope.slice(4) : undefined;
  }

  /** Removes every expiry bucket whose time has passed; answers how many files went. */
  async sweep(): Promise<number> {
    const now = this.now();
    let removed = 0;
    for (const bucket of await this.o.driver.listBuckets()) {
      if (bucketExpired(bucket, now)) removed += await this.o.driver.deletePrefix(bucket);
    }
    return removed;
  }

  private expSeconds(ttlS: number): number {
    return Math.ceil(this.now() / 1000 + ttlS);
  }

  private url(base: string, f: SignedFields): string {
    const q = new URLSearchParams({ ...(f.extra ?? {}), exp: String(f.exp), sig: this.o.signer.sign(f) });
    return `${base}${FILES_PREFIX}/${f.op}/${keyToPath(f.subject)}?${q.toString()}`;
  }

  /** Maps the drivers' own errors to the catalogue's. */
  private async guard<T>(fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (err) {
      if (err instanceof FileTooLargeError) throw new GantryError('GANTRY_ERR_FILE_TOO_LARGE');
      if (err instanceof BadPartsError) throw new GantryError('GANTRY_ERR_BAD_UPLOAD_PARTS', err.message);
      throw err;
    }
  }
}

function partFields(key: string, upload: string, part: UploadedPart): SignedFields {
  return { op: 'm', subject: key, exp: 0, extra: { upload, part: String(part.partNumber), etag: part.etag } };
}

function sized(size: number | undefined): { size?: number } {
  return size === undefined ? {} : { size };
}
