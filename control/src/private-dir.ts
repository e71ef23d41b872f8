/**
 * Control's data folder holds the embedded database (request inputs and results, in its WAL too),
 * the admin key and the master key: only control's own user may open it, whatever the umask.
 */
import { chmod, mkdir } from 'node:fs/promises';

/** Creates `dir` (and missing parents) as 0700, and tightens it to 0700 if it already existed. */
export async function ensurePrivateDir(dir: string): Promise<void> {
  await mkdir(dir, { recursive: true, mode: 0o700 });
  await chmod(dir, 0o700);
}
