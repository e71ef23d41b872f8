/**
 * The build context's ignore file (`.containerignore`, else `.dockerignore`), matched the way
 * moby's patternmatcher does: Go-style globs with `**`, `!` re-includes, the last matching pattern
 * wins, and a pattern that matches a parent folder matches everything under it. The content hash
 * must see exactly the files the builder sends, or an ignored file would trigger rebuilds.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';

interface Pattern {
  exclusion: boolean;
  /** The cleaned pattern text. */
  source: string;
  regex: RegExp;
}

export interface IgnoreRules {
  /** The ignore file used, relative to the context; undefined when there is none. */
  file: string | undefined;
  /** True when `relPath` (slash-separated, relative to the context) is left out of the context. */
  ignores(relPath: string): boolean;
  /** True when a `!` pattern could bring back something under the ignored folder `dir`. */
  mayReinclude(dir: string): boolean;
}

/** Go's path.Clean for slash paths, enough for ignore patterns. */
function clean(p: string): string {
  const out: string[] = [];
  for (const part of p.split('/')) {
    if (part === '' || part === '.') continue;
    if (part === '..') out.pop();
    else out.push(part);
  }
  return out.join('/') || '.';
}

function globToRegex(glob: string): RegExp {
  let re = '';
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i]!;
    if (c === '*') {
      if (glob[i + 1] === '*') {
        i++;
        // `**/` also matches no folder at all, as in Docker.
        if (glob[i + 1] === '/') {
          i++;
          re += '(?:.*/)?';
        } else re += '.*';
      } else re += '[^/]*';
    } else if (c === '?') re += '[^/]';
    else if (c === '[') {
      const end = glob.indexOf(']', i + 1);
      if (end < 0) re += '\\[';
      else {
        let cls = glob.slice(i + 1, end).replace(/\\/g, '\\\\');
        if (cls.startsWith('^') || cls.startsWith('!')) cls = `^${cls.slice(1)}`;
        re += `[${cls}]`;
        i = end;
      }
    } else if (c === '\\' && i + 1 < glob.length) {
      i++;
      re += glob[i]!.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
    } else re += c.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
  }
  return new RegExp(`^${re}$`);
}

/** Parses ignore-file text into rules. */
export function parseIgnore(text: string, file?: string): IgnoreRules {
  const patterns: Pattern[] = [];
  for (const raw of text.split(/\r?\n/)) {
    let line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    const exclusion = line.startsWith('!');
    if (exclusion) line = line.slice(1).trim();
    line = clean(line.replace(/\\/g, '/').replace(/^\/+/, ''));
    if (line === '.') continue;
    patterns.push({ exclusion, source: line, regex: globToRegex(line) });
  }
  const ignores = (relPath: string): boolean => {
    const parents = relPath.split('/').slice(0, -1);
    let matched = false;
    for (const p of patterns) {
      // Only a pattern that could change the answer is evaluated, as in moby.
      if (p.exclusion !== matched) continue;
      let match = p.regex.test(relPath);
      for (let i = 0; !match && i < parents.length; i++)
        match = p.regex.test(parents.slice(0, i + 1).join('/'));
      if (match) matched = !p.exclusion;
    }
    return matched;
  };
  // The literal start of each `!` pattern: only folders on the way to one can hold a re-included file.
  const reincludes = patterns
    .filter((p) => p.exclusion)
    .map((p) => p.source.slice(0, p.source.search(/[*?[\\]|$/)));
  const mayReinclude = (dir: string) =>
    reincludes.some(
      (prefix) => prefix === '' || prefix.startsWith(`${dir}/`) || `${dir}/`.startsWith(prefix),
    );
  return { file, ignores, mayReinclude };
}

/** Reads the context's ignore file; `.containerignore` wins over `.dockerignore`, as in buildah. */
export async function loadIgnore(contextDir: string): Promise<IgnoreRules> {
  for (const name of ['.containerignore', '.dockerignore']) {
    const text = await readFile(path.join(contextDir, name), 'utf8').catch((err: NodeJS.ErrnoException) => {
      if (err.code === 'ENOENT') return undefined;
      throw err;
    });
    if (text !== undefined) return parseIgnore(text, name);
  }
  return parseIgnore('');
}
