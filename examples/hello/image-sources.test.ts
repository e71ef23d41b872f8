import { readdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

/** The TypeScript files examples/hello/Containerfile copies into the image (tests stay out). */
const imageSources = () =>
  ['sdk/src', 'examples/hello']
    .flatMap((dir) =>
      readdirSync(path.join(ROOT, dir), { recursive: true, encoding: 'utf8' })
        .filter((f) => f.endsWith('.ts') && !f.endsWith('.test.ts'))
        .map((f) => path.join(ROOT, dir, f)),
    )
    .concat(path.join(ROOT, 'contract/src/app-log-prefix.ts'), path.join(ROOT, 'contract/src/app-files.ts'));

describe('examples/hello image', () => {
  it("uses only syntax Node's type stripping runs, since the image has no build step", () => {
    const files = imageSources();
    expect(files.length).toBeGreaterThan(3);
    const program = ts.createProgram(files, {
      erasableSyntaxOnly: true,
      noEmit: true,
      allowImportingTsExtensions: true,
      module: ts.ModuleKind.NodeNext,
      moduleResolution: ts.ModuleResolutionKind.NodeNext,
      target: ts.ScriptTarget.ES2022,
      verbatimModuleSyntax: true,
      skipLibCheck: true,
      types: ['node'],
    });
    // Type errors are tsc's business (npm run typecheck); this looks only for non-erasable syntax.
    const ERASABLE_SYNTAX_ONLY = 1294;
    const problems = ts
      .getPreEmitDiagnostics(program)
      .filter((d) => d.code === ERASABLE_SYNTAX_ONLY)
      .map(
        (d) =>
          `${d.file ? path.relative(ROOT, d.file.fileName) : ''}: ${ts.flattenDiagnosticMessageText(d.messageText, '\n')}`,
      );
    expect(problems).toEqual([]);
  });
});
