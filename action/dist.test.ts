import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { bundleFiles, DIST_DIR } from './bundle.ts';

describe('action/dist', () => {
  it('is the bundle of the current source (run `npm run build:action` and commit dist/ when this fails)', async () => {
    const fresh = await bundleFiles();
    const committed = (await readdir(DIST_DIR)).sort();
    expect(committed, 'files in action/dist').toEqual([...fresh.keys()].sort());
    for (const [name, text] of fresh) {
      const current = await readFile(path.join(DIST_DIR, name), 'utf8');
      // Not toEqual on the text: a 900 kB diff helps nobody; the message says what to run.
      expect(current === text, `action/dist/${name} is out of date: run npm run build:action`).toBe(true);
    }
  });
});
