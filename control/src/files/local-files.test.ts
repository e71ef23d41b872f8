import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { binary, filesContract, MAX_BYTES, startFilesServer } from './files.contract.ts';
import type { FilesService } from './files-service.ts';
import { LocalFiles } from './local-files.ts';

filesContract('the data folder', async () => {
  const dir = await mkdtemp(path.join(tmpdir(), 'gantry-files-'));
  return { driver: new LocalFiles(dir), close: () => rm(dir, { recursive: true, force: true }) };
});

// Single uploads to the data folder go through control's own signed URL, so control (not a
// presigned backend) enforces the limit and the URL's lifetime.
describe('uploads to the data folder through control', () => {
  let dir: string;
  let server: FastifyInstance;
  let files: FilesService;
  let base: string;
  let now = Date.now();
  beforeAll(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'gantry-files-'));
    ({ server, files, base } = await startFilesServer(new LocalFiles(dir), () => now));
  });
  afterAll(async () => {
    await server.close();
    await rm(dir, { recursive: true, force: true });
  });
  const initiate = () =>
    files.initiateUpload(base, {
      scope: 'up-bob',
      contentType: 'application/octet-stream',
      fileName: 'x.bin',
    });

  it('refuses an upload over the limit, by its length or by what it sends, and keeps nothing', async () => {
    const { upload_url, file_url } = await initiate();
    const res = await fetch(upload_url, { method: 'PUT', body: binary(MAX_BYTES + 1) });
    expect(res.status).toBe(413);
    expect(((await res.json()) as { code: string }).code).toBe('GANTRY_ERR_FILE_TOO_LARGE');
    // Chunked, with no length up front: refused once the bytes pass the limit.
    const chunked = new ReadableStream({
      start(c) {
        for (let i = 0; i < 5; i++) c.enqueue(binary(MAX_BYTES / 4));
        c.close();
      },
    });
    const streamed = await fetch(upload_url, { method: 'PUT', body: chunked, duplex: 'half' } as RequestInit);
    expect(streamed.status).toBe(413);
    expect((await fetch(file_url)).status).toBe(404);
    expect(await readdirDeep(path.join(dir, 'objects'))).toEqual([]);
  });

  it('refuses an upload URL past its time (403), and one changed in any field', async () => {
    const { upload_url } = await initiate();
    const changedType = upload_url.replace('ct=application%2Foctet-stream', 'ct=text%2Fhtml');
    const bad = await fetch(changedType, { method: 'PUT', body: 'x' });
    expect(bad.status).toBe(403);
    expect(((await bad.json()) as { code: string }).code).toBe('GANTRY_ERR_FILE_URL_INVALID');
    const saved = now;
    now += 3601 * 1000;
    try {
      const late = await fetch(upload_url, { method: 'PUT', body: 'x' });
      expect(late.status).toBe(403);
      expect(((await late.json()) as { code: string }).code).toBe('GANTRY_ERR_FILE_URL_EXPIRED');
    } finally {
      now = saved;
    }
  });
});

function readdirDeep(dir: string): Promise<string[]> {
  return readdir(dir, { recursive: true }).catch(() => []);
}
