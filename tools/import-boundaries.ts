/**
 * The lint step that keeps components apart: a component imports another only through contract/
 * (and the two driver libraries, sqs/ and sql/); test/ and bench/ reach components through their
 * public entries. `npm run lint` runs it; it prints every offending import and exits 1.
 */
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** What each component may import besides itself. */
export const ALLOWED: Record<string, readonly string[]> = {
  contract: [],
  sqs: ['contract'],
  sql: [],
  control: ['contract', 'sqs', 'sql'],
  runner: ['contract', 'sqs'],
  'github-app': ['contract', 'sql'],
  action: ['contract'],
  cli: ['contract'],
  console: ['contract'],
  sdk: ['contract'],
  examples: ['sdk', 'contract'],
  infra: ['contract'],
  tools: [],
};

/** Libraries anyone may use whole; other components are reached only through their public entries. */
const LIBRARIES = new Set(['contract', 'sqs', 'sql']);

/** The one composition point: the process entry mounts control's extensions. */
const COMPOSITION: Record<string, readonly string[]> = {
  'control/src/main.ts': ['github-app/index.ts'],
  // Control's bundle carries the runner's beside it (the container driver builds its image from it).
  'control/bundle.ts': ['runner/bundle.ts'],
};

/** Test-wide folders: they may use a component's public entry and its published test support. */
const CROSS_COMPONENT = new Set(['test', 'bench']);

export interface Violation {
  file: string;
  line: number;
  specifier: string;
  reason: string;
}

const IMPORT = /(?:\bfrom\s*|\bimport\s*\(\s*|^\s*import\s+)['"](\.{1,2}\/[^'"]+)['"]/gm;

/** Checks one file's text; `file` is relative to the repository root, with forward slashes. */
export function checkFile(file: string, text: string): Violation[] {
  const owner = file.split('/')[0]!;
  const out: Violation[] = [];
  for (const m of text.matchAll(IMPORT)) {
    const specifier = m[1]!;
    const target = path.posix.normalize(path.posix.join(path.posix.dirname(file), specifier));
    const targetOwner = target.split('/')[0]!;
    if (targetOwner === owner || target.startsWith('node_modules/')) continue;
    const line = text.slice(0, m.index).split('\n').length;
    const reason = crossingProblem(file, owner, target, targetOwner);
    if (reason) out.push({ file, line, specifier, reason });
  }
  return out;
}

function crossingProblem(
  file: string,
  owner: string,
  target: string,
  targetOwner: string,
): string | undefined {
  if (COMPOSITION[file]?.includes(target)) return undefined;
  // Unit tests beside the code may share the suite's test support.
  if (file.endsWith('.test.ts') && target.startsWith('test/support/')) return undefined;
  if (CROSS_COMPONENT.has(owner)) {
    if (LIBRARIES.has(targetOwner) || CROSS_COMPONENT.has(targetOwner)) return undefined;
    const rest = target.slice(targetOwner.length + 1);
    if (
      rest === 'index.ts' ||
      rest === 'src/index.ts' ||
      rest.startsWith('test/') ||
      rest.startsWith('src/testing/')
    )
      return undefined;
    return `${owner}/ reaches ${targetOwner}/ only through ${targetOwner}/index.ts or its test support`;
  }
  const allowed = ALLOWED[owner];
  if (!allowed) return undefined; // root files (vitest.config.ts) compose the whole tree
  if (allowed.includes(targetOwner)) return undefined;
  return `${owner}/ may import only ${allowed.length ? allowed.join(', ') : 'itself'}; meet ${targetOwner}/ through contract/`;
}

function* sourceFiles(root: string, dir = ''): Generator<string> {
  for (const entry of readdirSync(path.join(root, dir), { withFileTypes: true })) {
    if (entry.name === 'node_modules' || entry.name === 'dist' || entry.name.startsWith('.')) continue;
    if (entry.name === 'cdk.out') continue;
    const rel = dir ? `${dir}/${entry.name}` : entry.name;
    // This checker's own tests hold offending imports as examples.
    if (rel === 'tools/import-boundaries.test.ts') continue;
    if (entry.isDirectory()) yield* sourceFiles(root, rel);
    else if (/\.(ts|tsx|mts|mjs)$/.test(entry.name)) yield rel;
  }
}

/** Every violation under `root`. */
export function checkTree(root: string): Violation[] {
  return [...sourceFiles(root)].flatMap((f) => checkFile(f, readFileSync(path.join(root, f), 'utf8')));
}

if (process.argv[1] && fileURLToPath(import.meta.url) === path.resolve(process.argv[1])) {
  const root = path.resolve(fileURLToPath(new URL('..', import.meta.url)));
  const violations = checkTree(root);
  for (const v of violations) console.error(`${v.file}:${v.line}: import '${v.specifier}': ${v.reason}`);
  if (violations.length) {
    console.error(`import boundaries: ${violations.length} import(s) cross a component boundary`);
    process.exit(1);
  }
  console.log('import boundaries: ok');
}
