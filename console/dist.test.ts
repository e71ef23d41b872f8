import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'vite';
import { describe, expect, it } from 'vitest';

const HERE = fileURLToPath(new URL('.', import.meta.url));

describe('console/dist', () => {
  // A build takes a few seconds, far more on a loaded machine.
  it('is the build of the current source (run `npm run build:console` and commit dist/ when this fails)', {
    timeout: 180_000,
  }, async () => {
    const out = await mkdtemp(path.join(tmpdir(), 'gantry-console-'));
    // Vite picks packages' development builds when NODE_ENV is not production (vitest sets test).
    const nodeEnv = process.env.NODE_ENV;
    process.env.NODE_ENV = 'production';
    try {
      await build({
        configFile: path.join(HERE, 'vite.config.ts'),
        logLevel: 'silent',
        build: { outDir: out, emptyOutDir: true },
      });
      const fresh = (await readdir(out)).sort();
      expect((await readdir(path.join(HERE, 'dist'))).sort(), 'files in console/dist').toEqual(fresh);
      for (const name of fresh) {
        const [built, committed] = await Promise.all([
          readFile(path.join(out, name), 'utf8'),
          readFile(path.join(HERE, 'dist', name), 'utf8'),
        ]);
        // Not toEqual on the text: a 40 kB diff helps nobody; the message says what to run.
        expect(committed === built, `console/dist/${name} is out of date: run npm run build:console`).toBe(
          true,
        );
      }
    } finally {
      process.env.NODE_ENV = nodeEnv;
      await rm(out, { recursive: true, force: true });
    }
  });
});
