/**
 * Bundles the runner into one file, `runner/dist/runner.mjs`, that needs nothing but Node.js 20 or
 * newer: no repository, no node_modules. runner/Containerfile copies it into the runner image.
 *   npm run build:runner                      # writes runner/dist/runner.mjs
 *   tsx runner/bundle.ts --out <folder>       # somewhere else (tests)
 */
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { type BuildOptions, build } from 'esbuild';

const RUNNER_DIR = path.dirname(fileURLToPath(import.meta.url));
export const RUNNER_DIST = path.join(RUNNER_DIR, 'dist');

/**
 * What every Gantry bundle is: one ES module for Node.js 20 or newer. Control's bundle shares it.
 * CommonJS dependencies (the AWS SDK's parts, pg) require() Node built-ins, and an ES module has no
 * require of its own: the banner gives it one.
 */
export const NODE_BUNDLE: BuildOptions = {
  bundle: true,
  platform: 'node',
  target: 'node20',
  format: 'esm',
  legalComments: 'eof',
  logLevel: 'warning',
  banner: {
    js: "import { createRequire as __gantryCreateRequire } from 'node:module';\nconst require = __gantryCreateRequire(import.meta.url);",
  },
};

/** Writes `runner.mjs` into `outDir` and returns its path. */
export async function bundleRunner(outDir = RUNNER_DIST): Promise<string> {
  await mkdir(outDir, { recursive: true });
  const outfile = path.join(outDir, 'runner.mjs');
  await build({
    ...NODE_BUNDLE,
    entryPoints: [path.join(RUNNER_DIR, 'src', 'main.ts')],
    absWorkingDir: path.dirname(RUNNER_DIR),
    outfile,
  });
  return outfile;
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const i = process.argv.indexOf('--out');
  const out = await bundleRunner(i > 0 ? path.resolve(process.argv[i + 1] ?? '') : RUNNER_DIST);
  console.log(`runner bundled into ${path.relative(process.cwd(), out) || out}`);
}
