/**
 * Output files: an endpoint returns a file as fal's file object (`{url, content_type, file_name,
 * file_size}`), with the bytes stored by Gantry. For each request the runner tells the app where
 * files go (the `x-gantry-files-url` header); the app PUTs each file there and gets the object back.
 * Run outside Gantry (no header), a file comes back as a `data:` URL so the endpoint still works.
 */
import { type FalFile, FILE_NAME_PARAM } from '../../contract/src/app-files.ts';

export type FileData = Uint8Array | ArrayBuffer | Blob | string;

export interface UploadFileOptions {
  /** e.g. `image/png`; default `application/octet-stream` (a Blob's own type when it has one). */
  contentType?: string;
  /** The name a download is saved under; default `file`. */
  fileName?: string;
}

/** Uploads one output file to the request's files URL; answers fal's file object. */
export async function uploadFile(
  filesUrl: string | undefined,
  data: FileData,
  options: UploadFileOptions = {},
): Promise<FalFile> {
  const bytes = await toBytes(data);
  const contentType =
    options.contentType ?? (data instanceof Blob && data.type ? data.type : 'application/octet-stream');
  const fileName = options.fileName ?? 'file';
  if (!filesUrl) {
    return {
      url: `data:${contentType};base64,${Buffer.from(bytes).toString('base64')}`,
      content_type: contentType,
      file_name: fileName,
      file_size: bytes.length,
    };
  }
  const url = new URL(filesUrl);
  url.searchParams.set(FILE_NAME_PARAM, fileName);
  const res = await fetch(url, { method: 'PUT', headers: { 'content-type': contentType }, body: bytes });
  const text = await res.text();
  if (!res.ok) {
    throw new Error(`storing output file ${fileName} failed: HTTP ${res.status} ${text.slice(0, 500)}`);
  }
  return JSON.parse(text) as FalFile;
}

async function toBytes(data: FileData): Promise<Uint8Array> {
  if (typeof data === 'string') return new TextEncoder().encode(data);
  if (data instanceof Blob) return new Uint8Array(await data.arrayBuffer());
  if (data instanceof ArrayBuffer) return new Uint8Array(data);
  return data;
}
