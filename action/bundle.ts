/**
 * Bundles the Action into `action/dist/` (committed: GitHub runs it without installing anything).
 * `npm run build:action` writes it; dist.test.ts bundles to a temporary folder and fails when the
 * committed bundle differs, so the source and what users run cannot drift apart.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { build } from 'esbuild';

export const ACTION_DIR = path.dirname(fileURLToPath(import.meta.url));
export const DIST_DIR = path.join(ACTION_DIR, 'dist');

/** The bundle's files, by name, exactly as `bundleAction` writes them. */
export async function bundleFiles(): Promise<Map<string, string>> {
  const result = await build({
    entryPoints: [path.join(ACTION_DIR, 'src', 'index.ts')],
    absWorkingDir: path.dirname(ACTION_DIR),
    bundle: true,
    platform: 'node',
    target: 'node24',
    format: 'esm',
    write: false,
    outfile: path.join(DIST_DIR, 'index.js'),
    // Keeps the path comments the same whether node_modules is a folder or a link to one.
    preserveSymlinks: true,
    legalComments: 'eof',
    logLevel: 'silent',
    // @actions/core is CommonJS; its require() calls of Node built-ins need a real require in ESM.
    banner: {
      js: "import { createRequire as __gantryCreateRequire } from 'node:module';\nconst require = __gantryCreateRequire(import.meta.url);",
    },
  });
  const files = new Map<string, string>();
  for (const f of result.outputFiles) files.set(path.basename(f.path), f.text);
  // The bundle is ESM whatever package.json surrounds the checkout the Action runs from.
  files.set('package.json', `${JSON.stringify({ type: 'module', private: true }, null, 2)}\n`);
  return files;
}

export async function bundleAction(outDir = DIST_DIR): Promise<void> {
  await mkdir(outDir, { recursive: true });
  for (const [name, text] of await bundleFiles()) await writeFile(path.join(outDir, name), text);
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  await bundleAction();
  console.log(`action bundled into ${path.relative(process.cwd(), DIST_DIR) || DIST_DIR}`);
}
