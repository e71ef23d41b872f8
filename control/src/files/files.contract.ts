/**
 * The files contract: every FilesDriver passes these cases, driven the way callers use it, through
 * FilesService's signed URLs and control's files routes on a loopback server. Bytes cover every
 * byte value, so any text decoding on the way would show.
 */
import { randomBytes } from 'node:crypto';
import Fastify, { type FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GantryError } from '../../../contract/src/errors.ts';
import type { FilesDriver } from './files-driver.ts';
import { filesRoutes } from './files-routes.ts';
import { FilesService } from './files-service.ts';
import { UrlSigner } from './signed-url.ts';

export interface FilesUnderTest {
  driver: FilesDriver;
  close(): Promise<void>;
}

export const MAX_BYTES = 256 * 1024;
const DAY_S = 86_400;

/** Every byte value, then random bytes: what a PNG or WAV may hold. */
export function binary(size: number): Buffer {
  const all = Buffer.from(Array.from({ length: 256 }, (_, i) => i));
  return Buffer.concat([all, randomBytes(Math.max(0, size - 256))]).subarray(0, size);
}

/** Where fal's client sends part n of a multipart upload, and its completion. */
function partUrl(uploadUrl: string, tail: string | number): string {
  const u = new URL(uploadUrl);
  return `${u.origin}${u.pathname}/${tail}${u.search}`;
}

/** Control's files routes alone, on a loopback port, over a driver. */
export async function startFilesServer(
  driver: FilesDriver,
  clock: () => number,
): Promise<{ server: FastifyInstance; base: string; files: FilesService }> {
  const files = new FilesService({
    driver,
    signer: new UrlSigner(Buffer.alloc(32, 7)),
    maxBytes: MAX_BYTES,
    uploadTtlS: 3600,
    uploadRetentionS: DAY_S,
    clock,
  });
  const server = Fastify();
  server.setErrorHandler((err, _req, reply) => {
    const e = err instanceof GantryError ? err : new GantryError('GANTRY_ERR_INTERNAL', String(err));
    return reply.code(e.statusCode).send(e.toBody());
  });
  let base = '';
  await server.register(filesRoutes, { files, baseUrl: () => base });
  base = await server.listen({ port: 0, host: '127.0.0.1' });
  return { server, base, files };
}

export function filesContract(name: string, open: () => Promise<FilesUnderTest>): void {
  describe(`files contract on ${name}`, () => {
    let under: FilesUnderTest;
    let server: FastifyInstance;
    let base: string;
    let files: FilesService;
    let now = Date.now();

    beforeAll(async () => {
      under = await open();
      ({ server, base, files } = await startFilesServer(under.driver, () => now));
    });
    afterAll(async () => {
      await server?.close();
      await under?.close();
    });

    const initiate = (contentType: string, fileName = 'input.bin') =>
      files.initiateUpload(base, { scope: 'up-alice', contentType, fileName });

    it('stores an upload PUT to upload_url and serves it at file_url, byte for byte with its type', async () => {
      const bytes = binary(100_000);
      const { upload_url, file_url } = await initiate('image/png', 'cat.png');
      const put = await fetch(upload_url, {
        method: 'PUT',
        body: bytes,
        headers: { 'content-type': 'image/png' },
      });
      expect(put.status).toBe(200);
      const got = await fetch(file_url);
      expect(got.status).toBe(200);
      expect(got.headers.get('content-type')).toBe('image/png');
      expect(Buffer.from(await got.arrayBuffer()).equals(bytes)).toBe(true);
    });

    it("joins a multipart upload in fal's client's shape: parts answer {partNumber, etag}", async () => {
      const bytes = binary(150_000);
      const { upload_url, file_url } = await files.initiateMultipart(base, {
        scope: 'up-alice',
        contentType: 'audio/wav',
        fileName: 'long.wav',
      });
      const cuts = [0, 60_000, 120_000, bytes.length];
      const parts = [];
      for (let i = 0; i < 3; i++) {
        const res = await fetch(partUrl(upload_url, i + 1), {
          method: 'PUT',
          body: bytes.subarray(cuts[i], cuts[i + 1]),
        });
        expect(res.status).toBe(200);
        const answer = (await res.json()) as { partNumber: number; etag: string };
        expect(answer).toEqual({ partNumber: i + 1, etag: expect.any(String) });
        parts.push(answer);
      }
      const done = await fetch(partUrl(upload_url, 'complete'), {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ parts }),
      });
      expect(done.status).toBe(200);
      const got = await fetch(file_url);
      expect(got.headers.get('content-type')).toBe('audio/wav');
      expect(Buffer.from(await got.arrayBuffer()).equals(bytes)).toBe(true);
    });

    it('refuses to complete with an etag that was not uploaded', async () => {
      const { upload_url } = await files.initiateMultipart(base, {
        scope: 'up-alice',
        contentType: 'application/octet-stream',
        fileName: 'x.bin',
      });
      const part = (await (
        await fetch(partUrl(upload_url, 1), { method: 'PUT', body: binary(1000) })
      ).json()) as {
        etag: string;
      };
      expect(part.etag).not.toBe('"0123456789abcdef0123456789abcdef"');
      const done = await fetch(partUrl(upload_url, 'complete'), {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ parts: [{ partNumber: 1, etag: '"0123456789abcdef0123456789abcdef"' }] }),
      });
      expect(done.status).toBe(400);
      expect(((await done.json()) as { code: string }).code).toBe('GANTRY_ERR_BAD_UPLOAD_PARTS');
    });

    it('refuses a multipart upload over the limit, and keeps nothing of it', async () => {
      const { upload_url, file_url } = await files.initiateMultipart(base, {
        scope: 'up-alice',
        contentType: 'application/octet-stream',
        fileName: 'big.bin',
      });
      const parts = [];
      for (let i = 1; i <= 2; i++) {
        const res = await fetch(partUrl(upload_url, i), { method: 'PUT', body: binary(MAX_BYTES / 2 + 10) });
        parts.push(await res.json());
      }
      const done = await fetch(partUrl(upload_url, 'complete'), {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ parts }),
      });
      expect(done.status).toBe(413);
      expect(((await done.json()) as { code: string }).code).toBe('GANTRY_ERR_FILE_TOO_LARGE');
      const got = await fetch(file_url);
      expect(got.status).toBe(404);
    });

    it("stores an app's output file and answers fal's file object", async () => {
      const bytes = binary(5000);
      const target = files.outputUploadUrl(base, { scope: 'env-e1', retentionS: DAY_S, ttlS: 60 });
      const res = await fetch(`${target}&file_name=${encodeURIComponent('out image.png')}`, {
        method: 'PUT',
        headers: { 'content-type': 'image/png' },
        body: bytes,
      });
      expect(res.status).toBe(200);
      const file = (await res.json()) as {
        url: string;
        content_type: string;
        file_name: string;
        file_size: number;
      };
      expect(file).toEqual({
        url: expect.stringContaining(`${base}/files/f/`),
        content_type: 'image/png',
        file_name: 'out image.png',
        file_size: 5000,
      });
      expect(Buffer.from(await (await fetch(file.url)).arrayBuffer()).equals(bytes)).toBe(true);
    });

    it('refuses an output file over the limit', async () => {
      const target = files.outputUploadUrl(base, { scope: 'env-e1', retentionS: DAY_S, ttlS: 60 });
      const res = await fetch(`${target}&file_name=big.bin`, { method: 'PUT', body: binary(MAX_BYTES + 1) });
      expect(res.status).toBe(413);
      expect(((await res.json()) as { code: string }).code).toBe('GANTRY_ERR_FILE_TOO_LARGE');
    });

    it('refuses a file_url with a changed key or signature (403), and a genuine one past retention (410)', async () => {
      const { upload_url, file_url } = await initiate('text/plain', 'a.txt');
      await fetch(upload_url, { method: 'PUT', body: 'hello', headers: { 'content-type': 'text/plain' } });
      const otherKey = file_url.replace('/a.txt?', '/b.txt?');
      const otherSig = file_url.replace(/sig=[^&]+/, 'sig=AAAA');
      for (const bad of [otherKey, otherSig]) {
        const res = await fetch(bad);
        expect(res.status).toBe(403);
        expect(((await res.json()) as { code: string }).code).toBe('GANTRY_ERR_FILE_URL_INVALID');
      }
      const saved = now;
      now += (DAY_S + 1) * 1000;
      try {
        const res = await fetch(file_url);
        expect(res.status).toBe(410);
        expect(((await res.json()) as { code: string }).code).toBe('GANTRY_ERR_FILE_EXPIRED');
      } finally {
        now = saved;
      }
    });

    it('sweeps the files whose retention ran out, and only those', async () => {
      const short = files.outputUploadUrl(base, { scope: 'env-sweep', retentionS: 60, ttlS: 60 });
      const long = files.outputUploadUrl(base, { scope: 'env-sweep', retentionS: 30 * DAY_S, ttlS: 60 });
      const put = async (url: string) =>
        (await (await fetch(`${url}&file_name=f.txt`, { method: 'PUT', body: 'x' })).json()) as {
          url: string;
        };
      const gone = await put(short);
      const kept = await put(long);
      const keyOf = (url: string) => decodeURIComponent(new URL(url).pathname.replace('/files/f/', ''));
      const saved = now;
      now += 2 * 3_600_000; // past the short file's hour bucket
      try {
        expect(await files.sweep()).toBeGreaterThanOrEqual(1);
      } finally {
        now = saved;
      }
      expect(await under.driver.head(keyOf(gone.url))).toBeUndefined();
      expect(await under.driver.head(keyOf(kept.url))).toEqual(expect.objectContaining({ size: 1 }));
    });
  });
}
