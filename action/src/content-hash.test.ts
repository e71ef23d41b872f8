import { chmod, mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { contentHash, contextEntries } from './content-hash.ts';
import { parseIgnore } from './context-ignore.ts';

describe('content hash', () => {
  let dir: string;
  const write = async (rel: string, text: string) => {
    await mkdir(path.dirname(path.join(dir, rel)), { recursive: true });
    await writeFile(path.join(dir, rel), text);
  };
  const hash = async (args: [string, string][] = []) =>
    (await contentHash({ contextDir: dir, containerfile: path.join(dir, 'Containerfile'), buildArgs: args }))
      .hash;

  beforeEach(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'gantry-hash-'));
    await write('Containerfile', 'FROM scratch\nCOPY . /app\n');
    await write('.dockerignore', 'node_modules\n*.log\n!keep.log\n');
    await write('app.ts', 'console.log(1)\n');
    await write('lib/model.json', '{}');
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('is stable: same inputs, same hash, whatever the order files were written in or their times', async () => {
    const first = await hash([['A', '1']]);
    expect(first).toMatch(/^[0-9a-f]{64}$/);
    await rm(path.join(dir, 'app.ts'));
    await write('app.ts', 'console.log(1)\n');
    expect(await hash([['A', '1']])).toBe(first);
  });

  it('ignores files the ignore file excludes, but not the ones it brings back', async () => {
    const before = await hash();
    await write('node_modules/x/index.js', 'junk');
    await write('debug.log', 'junk');
    expect(await hash()).toBe(before);
    await write('keep.log', 'kept');
    expect(await hash()).not.toBe(before);
  });

  it('changes when a file, the Containerfile, a build argument or an executable bit changes', async () => {
    const seen = new Set([await hash([['A', '1']])]);
    await write('lib/model.json', '{"v":2}');
    seen.add(await hash([['A', '1']]));
    await write('Containerfile', 'FROM scratch\nCOPY . /srv\n');
    seen.add(await hash([['A', '1']]));
    seen.add(await hash([['A', '2']]));
    await chmod(path.join(dir, 'app.ts'), 0o755);
    seen.add(await hash([['A', '2']]));
    await symlink('app.ts', path.join(dir, 'link.ts'));
    seen.add(await hash([['A', '2']]));
    expect(seen.size).toBe(6);
  });

  it('does not depend on the order build arguments are given in; the last of a repeated one wins', async () => {
    expect(
      await hash([
        ['A', '1'],
        ['B', '2'],
      ]),
    ).toBe(
      await hash([
        ['B', '2'],
        ['A', '1'],
      ]),
    );
    expect(
      await hash([
        ['A', '0'],
        ['A', '1'],
      ]),
    ).toBe(await hash([['A', '1']]));
  });

  it('lists the context the way the builder sees it, sorted', async () => {
    await write('node_modules/x/index.js', 'junk');
    expect(await contextEntries(dir, parseIgnore('node_modules\n*.log\n!keep.log\n'))).toEqual([
      '.dockerignore',
      'Containerfile',
      'app.ts',
      'lib/model.json',
    ]);
  });
});

describe('ignore patterns, as Docker matches them', () => {
  const ignored = (patterns: string, file: string) => parseIgnore(patterns).ignores(file);

  it('matches globs, parent folders, ** and a leading slash', () => {
    expect(ignored('*.md', 'README.md')).toBe(true);
    expect(ignored('*.md', 'docs/README.md')).toBe(false);
    expect(ignored('**/*.md', 'docs/deep/README.md')).toBe(true);
    expect(ignored('**/*.md', 'README.md')).toBe(true);
    expect(ignored('/build', 'build/out/x.js')).toBe(true);
    expect(ignored('build', 'src/build')).toBe(false);
    expect(ignored('file?.txt', 'file1.txt')).toBe(true);
    expect(ignored('file[0-9].txt', 'filea.txt')).toBe(false);
    expect(ignored('# comment\n', '# comment')).toBe(false);
  });

  it('lets the last matching pattern win, with ! bringing files back', () => {
    expect(ignored('*.log\n!keep.log', 'keep.log')).toBe(false);
    expect(ignored('*.log\n!keep.log\nkeep.log', 'keep.log')).toBe(true);
    expect(ignored('docs\n!docs/api.md', 'docs/api.md')).toBe(false);
    expect(ignored('docs\n!docs/api.md', 'docs/other.md')).toBe(true);
    const rules = parseIgnore('*\n!sdk/src\n!docs/**/*.md');
    expect(rules.mayReinclude('sdk')).toBe(true);
    expect(rules.mayReinclude('docs/deep')).toBe(true);
    expect(rules.mayReinclude('node_modules')).toBe(false);
    expect(rules.ignores('sdk/src/index.ts')).toBe(false);
    expect(rules.ignores('sdk/README.md')).toBe(true);
  });
});
