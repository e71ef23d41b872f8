/**
 * The content hash names an image by what went into it: the Containerfile, the build arguments and
 * every file of the context the builder would see. Equal hash, equal build inputs: the image tagged
 * `gantry-<hash>` in the registry can be reused instead of rebuilt, as fal does.
 *
 * The hash is independent of file times, of the order the file system lists entries in and of the
 * machine: paths are sorted by code unit, only the executable bit of the mode counts (git keeps no
 * more), and symbolic links count by their target, never followed.
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { lstat, readdir, readFile, readlink } from 'node:fs/promises';
import path from 'node:path';
import { type IgnoreRules, loadIgnore } from './context-ignore.ts';

/** Bumped when what the hash covers changes, so old tags are not mistaken for new builds. */
const VERSION = 'gantry-content-hash-v1';

export interface ContentHashInput {
  contextDir: string;
  containerfile: string;
  buildArgs: [string, string][];
}

export interface ContentHash {
  hash: string;
  /** Files of the context that went into the hash. */
  files: number;
}

async function fileDigest(file: string): Promise<string> {
  const h = createHash('sha256');
  for await (const chunk of createReadStream(file)) h.update(chunk as Buffer);
  return h.digest('hex');
}

/** Context entries (slash-separated, relative) the builder would send, sorted by code unit. */
export async function contextEntries(contextDir: string, rules: IgnoreRules): Promise<string[]> {
  const out: string[] = [];
  const walk = async (rel: string): Promise<void> => {
    const entries = await readdir(path.join(contextDir, rel), { withFileTypes: true });
    for (const e of entries) {
      const r = rel === '' ? e.name : `${rel}/${e.name}`;
      const ignored = rules.ignores(r);
      if (e.isDirectory()) {
        if (!ignored || rules.mayReinclude(r)) await walk(r);
      } else if (!ignored && (e.isFile() || e.isSymbolicLink())) out.push(r);
    }
  };
  await walk('');
  return out.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
}

/** Hashes the build inputs; see the file comment for what counts. */
export async function contentHash(input: ContentHashInput): Promise<ContentHash> {
  const rules = await loadIgnore(input.contextDir);
  const files = await contextEntries(input.contextDir, rules);
  const h = createHash('sha256');
  h.update(`${VERSION}\n`);
  h.update(
    `containerfile\0${createHash('sha256')
      .update(await readFile(input.containerfile))
      .digest('hex')}\n`,
  );
  // The last value of an argument given twice is the one the builder uses.
  const args = new Map(input.buildArgs);
  for (const name of [...args.keys()].sort()) h.update(`arg\0${name}\0${args.get(name)}\n`);
  for (const rel of files) {
    const abs = path.join(input.contextDir, rel);
    const st = await lstat(abs);
    if (st.isSymbolicLink()) h.update(`link\0${rel}\0${await readlink(abs)}\n`);
    else h.update(`file\0${rel}\0${st.mode & 0o111 ? 'x' : '-'}\0${await fileDigest(abs)}\n`);
  }
  return { hash: h.digest('hex'), files: files.length };
}
