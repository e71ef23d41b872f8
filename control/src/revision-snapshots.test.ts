import { mkdir, mkdtemp, readFile, readlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { RevisionSnapshots } from './revision-snapshots.ts';

async function folder() {
  const base = await mkdtemp(path.join(tmpdir(), 'gantry-snap-'));
  const app = path.join(base, 'app');
  await mkdir(path.join(app, 'src'), { recursive: true });
  await mkdir(path.join(app, 'node_modules', 'dep'), { recursive: true });
  await mkdir(path.join(app, '.git'), { recursive: true });
  await writeFile(path.join(app, 'src', 'main.js'), 'console.log(1)');
  await writeFile(path.join(app, 'node_modules', 'dep', 'index.js'), 'module.exports = 1');
  await writeFile(path.join(app, '.git', 'HEAD'), 'ref: main');
  return {
    app,
    snaps: new RevisionSnapshots({ root: path.join(base, 'data', 'revisions'), maxBytes: 10_000 }),
  };
}

describe('revision snapshots', () => {
  it('keeps each revision’s code as it was: a later change of the folder does not reach an earlier copy', async () => {
    const { app, snaps } = await folder();
    const one = await snaps.snapshot(app);
    await writeFile(path.join(app, 'src', 'main.js'), 'console.log(2)');
    const two = await snaps.snapshot(app);
    expect(two).not.toBe(one);
    expect(await readFile(path.join(one, 'src', 'main.js'), 'utf8')).toBe('console.log(1)');
    expect(await readFile(path.join(two, 'src', 'main.js'), 'utf8')).toBe('console.log(2)');
    // The same content is one copy.
    expect(await snaps.snapshot(app)).toBe(two);
  });

  it('links dependency folders to the original and leaves version control out', async () => {
    const { app, snaps } = await folder();
    const copy = await snaps.snapshot(app);
    expect(await readlink(path.join(copy, 'node_modules'))).toBe(path.join(app, 'node_modules'));
    await expect(readFile(path.join(copy, '.git', 'HEAD'))).rejects.toThrow();
  });

  it('refuses a folder over the size limit with a message that points to images', async () => {
    const { app, snaps } = await folder();
    await writeFile(path.join(app, 'weights.bin'), Buffer.alloc(20_000));
    await expect(snaps.snapshot(app)).rejects.toMatchObject({
      code: 'GANTRY_ERR_VALIDATION',
      extra: { field: 'cwd' },
      message: expect.stringMatching(/deploy an image/),
    });
  });
});
