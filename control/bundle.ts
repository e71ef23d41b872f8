/**
 * Bundles the control service into `control/dist/`: `control.mjs` (the process entry, main.ts, with
 * every dependency inside) and the embedded database's WebAssembly files PGlite loads from beside
 * it. The folder needs nothing but Node.js 20 or newer; control/Containerfile copies it whole.
 *   npm run build:control                     # writes control/dist/
 *   tsx control/bundle.ts --out <folder>      # somewhere else (tests)
 */
import { copyFile, mkdir, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { build } from 'esbuild';
import { bundleRunner, NODE_BUNDLE } from '../runner/bundle.ts';

const CONTROL_DIR = path.dirname(fileURLToPath(import.meta.url));
export const CONTROL_DIST = path.join(CONTROL_DIR, 'dist');

/** PGlite reads these from the folder of the module that loads it: the bundle's, once bundled. */
const PGLITE_ASSETS = ['pglite.wasm', 'pglite.data', 'initdb.wasm'];

/** Writes the bundle into `outDir` and returns the entry's path. */
export async function bundleControl(outDir = CONTROL_DIST): Promise<string> {
  await mkdir(outDir, { recursive: true });
  const outfile = path.join(outDir, 'control.mjs');
  await build({
    ...NODE_BUNDLE,
    entryPoints: [path.join(CONTROL_DIR, 'src', 'main.ts')],
    absWorkingDir: path.dirname(CONTROL_DIR),
    outfile,
    // pg's optional native binding is never used (and never installed).
    external: ['pg-native'],
  });
  // The runner, bundled beside control: the container driver builds its runner image from it.
  await bundleRunner(outDir);
  const pgliteDist = path.dirname(createRequire(import.meta.url).resolve('@electric-sql/pglite'));
  for (const f of PGLITE_ASSETS) await copyFile(path.join(pgliteDist, f), path.join(outDir, f));
  // An empty folder the image turns into its data folder, owned by the service's user.
  await mkdir(path.join(outDir, 'data'), { recursive: true });
  await writeFile(path.join(outDir, 'data', '.keep'), '');
  return outfile;
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const i = process.argv.indexOf('--out');
  const out = await bundleControl(i > 0 ? path.resolve(process.argv[i + 1] ?? '') : CONTROL_DIST);
  console.log(`control bundled into ${path.relative(process.cwd(), path.dirname(out)) || out}`);
}
