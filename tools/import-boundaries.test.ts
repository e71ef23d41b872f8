import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { checkFile, checkTree } from './import-boundaries.ts';

describe('import boundaries', () => {
  it("refuses a component importing another component's source", () => {
    const v = checkFile('runner/src/runner.ts', "import { x } from '../../control/src/store/store.ts';\n");
    expect(v).toEqual([expect.objectContaining({ line: 1, specifier: '../../control/src/store/store.ts' })]);
    expect(v[0]!.reason).toMatch(/through contract/);
  });

  it('lets a component import contract/ and its own files', () => {
    const text = "import { a } from '../../contract/src/errors.ts';\nimport { b } from './b.ts';\n";
    expect(checkFile('cli/src/main.ts', text)).toEqual([]);
  });

  it('refuses control importing the GitHub App anywhere but the process entry', () => {
    const spec = "import { githubApp } from '../../github-app/index.ts';\n";
    expect(checkFile('control/src/app.ts', spec)).toHaveLength(1);
    expect(checkFile('control/src/main.ts', spec)).toEqual([]);
  });

  it('lets test/ use public entries and test support, not deep source', () => {
    expect(
      checkFile('test/support/control.ts', "import { loadConfig } from '../../control/index.ts';"),
    ).toEqual([]);
    expect(checkFile('test/a.test.ts', "import { x } from '../control/src/config.ts';")).toHaveLength(1);
    expect(checkFile('test/a.test.ts', "const m = await import('../control/src/app.ts');")).toHaveLength(1);
  });

  it('finds nothing crossing in this repository', () => {
    const root = fileURLToPath(new URL('..', import.meta.url));
    expect(checkTree(root).map((v) => `${v.file}:${v.line} ${v.specifier}`)).toEqual([]);
  });
});
