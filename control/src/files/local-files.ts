/**
 * Files in the data folder (the embedded default). Each file is a directory `objects/<key>/` with
 * the bytes (`data`) and a small `meta.json`; multipart uploads gather their parts under
 * `multipart/<upload id>/` until completed. Writes go to a temporary file and are renamed into
 * place, so a reader never sees half a file. The backend serves nothing itself: control's signed
 * URLs (files-routes.ts) front it.
 */
import { createHash, randomUUID } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import {
  BadPartsError,
  type FileBody,
  type FilesDriver,
  FileTooLargeError,
  type StoredFile,
  type UploadedPart,
} from './files-driver.ts';

export class LocalFiles implements FilesDriver {
  readonly kind = 'local' as const;
  private readonly objects: string;
  private readonly multipart: string;
  private readonly tmp: string;

  constructor(root: string) {
    this.objects = path.join(root, 'objects');
    this.multipart = path.join(root, 'multipart');
    this.tmp = path.join(root, 'tmp');
  }

  async directUploadUrl(): Promise<undefined> {
    return undefined;
  }

  async directDownloadUrl(): Promise<undefined> {
    return undefined;
  }

  async put(
    key: string,
    body: Readable | Uint8Array,
    o: { contentType: string; maxBytes: number },
  ): Promise<StoredFile> {
    const dir = this.objectDir(key);
    const { file, size } = await this.spool(body, o.maxBytes);
    await this.place(dir, file, { contentType: o.contentType, size });
    return { contentType: o.contentType, size };
  }

  async get(key: string): Promise<FileBody | undefined> {
    const meta = await this.head(key);
    if (!meta) return undefined;
    return { ...meta, body: createReadStream(path.join(this.objectDir(key), 'data')) };
  }

  async head(key: string): Promise<StoredFile | undefined> {
    const raw = await readFile(path.join(this.objectDir(key), 'meta.json'), 'utf8').catch(() => undefined);
    return raw === undefined ? undefined : (JSON.parse(raw) as StoredFile);
  }

  async createMultipart(key: string, contentType: string): Promise<string> {
    const uploadId = randomUUID();
    const dir = path.join(this.multipart, uploadId);
    await mkdir(dir, { recursive: true });
    await writeFile(path.join(dir, 'meta.json'), JSON.stringify({ key, contentType }));
    return uploadId;
  }

  async uploadPart(
    key: string,
    uploadId: string,
    partNumber: number,
    body: Readable | Uint8Array,
    o: { maxBytes: number },
  ): Promise<UploadedPart> {
    const dir = await this.uploadDir(key, uploadId);
    const { file, md5 } = await this.spool(body, o.maxBytes);
    // A retried part replaces the earlier copy, as S3 does.
    await rename(file, path.join(dir, `part-${partNumber}`));
    return { partNumber, etag: `"${md5}"` };
  }

  async completeMultipart(key: string, uploadId: string, parts: UploadedPart[]): Promise<StoredFile> {
    const dir = await this.uploadDir(key, uploadId);
    const meta = JSON.parse(await readFile(path.join(dir, 'meta.json'), 'utf8')) as { contentType: string };
    await mkdir(this.tmp, { recursive: true });
    const joined = path.join(this.tmp, randomUUID());
    const out = createWriteStream(joined);
    let size = 0;
    try {
      for (const part of parts) {
        const file = path.join(dir, `part-${part.partNumber}`);
        const md5 = await fileMd5(file).catch(() => undefined);
        if (md5 === undefined || `"${md5}"` !== normaliseEtag(part.etag)) {
          throw new BadPartsError(`Part ${part.partNumber} was not uploaded with etag ${part.etag}.`);
        }
        size += (await stat(file)).size;
        await pipeline(createReadStream(file), out, { end: false });
      }
      await new Promise<void>((resolve, reject) =>
        out.end((err?: Error | null) => (err ? reject(err) : resolve())),
      );
    } catch (err) {
      out.destroy();
      await rm(joined, { force: true });
      throw err;
    }
    await this.place(this.objectDir(key), joined, { contentType: meta.contentType, size });
    await rm(dir, { recursive: true, force: true });
    return { contentType: meta.contentType, size };
  }

  async deletePrefix(prefix: string): Promise<number> {
    const target = this.objectDir(prefix);
    const count = await countFiles(target);
    await rm(target, { recursive: true, force: true });
    return count;
  }

  async listBuckets(): Promise<string[]> {
    return readdir(this.objects).catch(() => []);
  }

  private objectDir(key: string): string {
    const dir = path.resolve(this.objects, key);
    // Keys are made by control, but a key is also read back from a URL: never leave the folder.
    if (!dir.startsWith(`${this.objects}${path.sep}`))
      throw new Error(`file key "${key}" leaves the files folder`);
    return dir;
  }

  private async uploadDir(key: string, uploadId: string): Promise<string> {
    if (!/^[0-9a-f-]{36}$/.test(uploadId)) throw new BadPartsError('Unknown upload.');
    const dir = path.join(this.multipart, uploadId);
    const raw = await readFile(path.join(dir, 'meta.json'), 'utf8').catch(() => undefined);
    if (raw === undefined || (JSON.parse(raw) as { key: string }).key !== key) {
      throw new BadPartsError('Unknown upload.');
    }
    return dir;
  }

  /** Writes a body to a temporary file, counting and hashing it, and refusing past maxBytes. */
  private async spool(body: Readable | Uint8Array, maxBytes: number) {
    await mkdir(this.tmp, { recursive: true });
    const file = path.join(this.tmp, randomUUID());
    const hash = createHash('md5');
    let size = 0;
    const meter = new Transform({
      transform(chunk: Buffer, _enc, done) {
        size += chunk.length;
        if (size > maxBytes) return done(new FileTooLargeError(maxBytes));
        hash.update(chunk);
        done(null, chunk);
      },
    });
    const source = body instanceof Uint8Array ? Readable.from([Buffer.from(body)]) : body;
    try {
      await pipeline(source, meter, createWriteStream(file));
    } catch (err) {
      await rm(file, { force: true });
      throw err;
    }
    return { file, size, md5: hash.digest('hex') };
  }

  private async place(dir: string, file: string, meta: StoredFile): Promise<void> {
    await mkdir(dir, { recursive: true });
    await rename(file, path.join(dir, 'data'));
    await writeFile(path.join(dir, 'meta.json'), JSON.stringify(meta));
  }
}

function normaliseEtag(etag: string): string {
  return etag.startsWith('"') ? etag : `"${etag}"`;
}

async function fileMd5(file: string): Promise<string> {
  const hash = createHash('md5');
  await pipeline(createReadStream(file), hash);
  return hash.digest('hex');
}

async function countFiles(dir: string): Promise<number> {
  const entries = await readdir(dir, { recursive: true }).catch(() => [] as string[]);
  return entries.filter((e) => path.basename(e) === 'meta.json').length;
}
