/**
 * Revisions are immutable, local ones too: a command revision runs a copy of its folder taken when
 * it was registered, kept in the data folder under the hash of its contents (the same folder twice
 * is one copy). Rolling back to revision 1 therefore runs revision 1's code.
 *
 * Dependency folders (node_modules, .venv, venv) are not copied: the copy links them to the
 * original folder's, so installed packages are shared (and can change) while the code cannot.
 * Version-control and cache folders are left out. A folder larger than the limit is refused with a
 * message that points to images.
 */
import { createHash, randomBytes } from 'node:crypto';
import {
  lstat,
  mkdir,
  readdir,
  readFile,
  readlink,
  rename,
  rm,
  stat,
  symlink,
  writeFile,
} from 'node:fs/promises';
import path from 'node:path';
import { GantryError } from '../../contract/src/errors.ts';

/** Linked to the original, not copied: installed dependencies. */
export const LINKED = new Set(['node_modules', '.venv', 'venv']);
/** Left out: version control, caches, Gantry's own data folder by its default name. */
export const SKIPPED = new Set(['.git', '.hg', '.svn', '__pycache__', '.gantry', '.cache', '.pytest_cache']);

interface Entry {
  rel: string;
  kind: 'file' | 'link' | 'linked-dir';
  mode: number;
  size: number;
  target?: string;
}

export class RevisionSnapshots {
  constructor(
    private readonly o: {
      /** Where snapshots live (`<data dir>/revisions`). */
      root: string;
      maxBytes: number;
      /** Folders never copied wherever they sit (the data folder). */
      skipPaths?: string[];
    },
  ) {}

  /** Copies `cwd` (once per distinct content) and returns the copy's absolute path. */
  async snapshot(cwd: string): Promise<string> {
    const root = path.resolve(this.o.root);
    const skip = new Set([root, ...(this.o.skipPaths ?? []).map((p) => path.resolve(p))]);
    const entries: Entry[] = [];
    let total = 0;
    const walk = async (dir: string, rel: string): Promise<void> => {
      const names = (await readdir(dir)).sort();
      for (const name of names) {
        const abs = path.join(dir, name);
        const r = rel ? `${rel}/${name}` : name;
        if (SKIPPED.has(name) || skip.has(abs)) continue;
        const st = await lstat(abs);
        if (st.isSymbolicLink()) {
          entries.push({ rel: r, kind: 'link', mode: 0, size: 0, target: await readlink(abs) });
        } else if (st.isDirectory()) {
          if (LINKED.has(name)) entries.push({ rel: r, kind: 'linked-dir', mode: 0, size: 0, target: abs });
          else await walk(abs, r);
        } else if (st.isFile()) {
          total += st.size;
          if (total > this.o.maxBytes) {
            throw new GantryError(
              'GANTRY_ERR_VALIDATION',
              `cwd "${cwd}" holds more than ${Math.round(this.o.maxBytes / 1e6)} MB to snapshot (dependency folders ` +
                'aside): a revision keeps a copy of its code. Leave data out of the folder, or deploy an image.',
              { field: 'cwd', max_bytes: this.o.maxBytes },
            );
          }
          entries.push({ rel: r, kind: 'file', mode: st.mode & 0o777, size: st.size });
        }
      }
    };
    await walk(cwd, '');
    const hash = createHash('sha256');
    for (const e of entries) {
      hash.update(`${e.kind}\0${e.rel}\0${e.mode}\0${e.target ?? ''}\0`);
      if (e.kind === 'file') hash.update(await readFile(path.join(cwd, e.rel)));
    }
    const dest = path.join(root, hash.digest('hex').slice(0, 32));
    if (await stat(dest).catch(() => undefined)) return dest;
    const tmp = path.join(root, `.tmp-${randomBytes(6).toString('hex')}`);
    try {
      await mkdir(tmp, { recursive: true });
      for (const e of entries) {
        const to = path.join(tmp, e.rel);
        await mkdir(path.dirname(to), { recursive: true });
        if (e.kind === 'file') await writeFile(to, await readFile(path.join(cwd, e.rel)), { mode: e.mode });
        else await symlink(e.target!, to);
      }
      await rename(tmp, dest).catch(async (err: NodeJS.ErrnoException) => {
        // Another registration of the same content won the race: theirs is identical.
        if (err.code !== 'ENOTEMPTY' && err.code !== 'EEXIST') throw err;
      });
    } finally {
      await rm(tmp, { recursive: true, force: true });
    }
    return dest;
  }
}
