import { mkdir, mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadConfig } from './config.ts';
import { ensurePrivateDir } from './private-dir.ts';
import { openDatabase } from './server.ts';

const made: string[] = [];
afterAll(async () => {
  for (const d of made) await rm(d, { recursive: true, force: true });
});

const mode = async (p: string) => (await stat(p)).mode & 0o777;

describe('the data folder', () => {
  it('holding the embedded database is readable by control’s user only, even if it was made open', async () => {
    const root = await mkdtemp(path.join(tmpdir(), 'gantry-private-'));
    made.push(root);
    const dataDir = path.join(root, 'data');
    // An existing folder made world-readable (an earlier version, a umask of 022).
    await mkdir(path.join(dataDir, 'pgdata'), { recursive: true, mode: 0o755 });
    const db = await openDatabase(loadConfig({ GANTRY_DATA_DIR: dataDir }));
    try {
      expect((await mode(dataDir)).toString(8)).toBe('700');
      expect((await mode(path.join(dataDir, 'pgdata'))).toString(8)).toBe('700');
    } finally {
      await db.close();
    }
  }, 240_000);

  it('made afresh is 0700 whatever the umask', async () => {
    const root = await mkdtemp(path.join(tmpdir(), 'gantry-private-'));
    made.push(root);
    const fresh = path.join(root, 'fresh', 'data');
    const umask = process.umask(0o022);
    try {
      await ensurePrivateDir(fresh);
    } finally {
      process.umask(umask);
    }
    expect((await mode(fresh)).toString(8)).toBe('700');
  });
});
