/**
 * The runner image, when GANTRY_DOCKER_RUNNER_IMAGE does not name one: the container driver builds
 * it itself, once per engine, through the engine's build API, from what this machine already has:
 * the Node.js binary control runs on, the shared libraries `ldd` says it needs, and the bundled runner
 * (`runner.mjs` beside control's bundle, or bundled from the repository with runner/bundle.ts). It is
 * `FROM scratch`, so nothing is pulled; its tag is a hash of its contents, so a changed runner or Node
 * gets a new image and an unchanged one is found again.
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdtemp, readFile, realpath, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import type { DockerEngine } from './docker-engine.ts';

const exec = promisify(execFile);
const HERE = path.dirname(fileURLToPath(import.meta.url));
const REPO_ROOT = path.resolve(HERE, '../../..');

const CONTAINERFILE = `FROM scratch
COPY rootfs/ /
USER 1000:1000
ENTRYPOINT ["/usr/local/bin/node", "/opt/gantry/runner.mjs"]
`;

interface Entry {
  /** Path inside the tar (and so under the build context). */
  name: string;
  /** File on this machine, or inline content. */
  source: string | Buffer;
  mode: number;
}

/** Returns the tag of the runner image, building it first when the engine does not have it. */
export async function provideRunnerImage(
  engine: DockerEngine,
  log?: (msg: string, fields?: Record<string, unknown>) => void,
): Promise<string> {
  const work = await mkdtemp(path.join(tmpdir(), 'gantry-runner-image-'));
  try {
    const bundle = await runnerBundle(work);
    const libs = await sharedLibraries(process.execPath);
    const entries: Entry[] = [
      { name: 'Containerfile', source: Buffer.from(CONTAINERFILE), mode: 0o644 },
      { name: 'rootfs/usr/local/bin/node', source: process.execPath, mode: 0o755 },
      { name: 'rootfs/opt/gantry/runner.mjs', source: bundle, mode: 0o644 },
      ...libs.map((l) => ({ name: `rootfs${l.path}`, source: l.file, mode: 0o755 })),
    ];
    const hash = createHash('sha256');
    hash.update(await readFile(bundle));
    hash.update(process.version);
    for (const l of libs) hash.update(l.path);
    const tag = `localhost/gantry-runner:${hash.digest('hex').slice(0, 16)}`;
    if (await engine.hasImage(tag)) return tag;
    log?.('building the runner image (once per engine)', { tag });
    await engine.build(Readable.from(tarEntries(entries)), tag);
    return tag;
  } catch (err) {
    throw new Error(
      `could not build the runner image on this machine (${(err as Error).message}); build it from runner/Containerfile and set GANTRY_DOCKER_RUNNER_IMAGE`,
    );
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

/** The bundled runner: beside control's own bundle, or bundled from the repository now. */
async function runnerBundle(work: string): Promise<string> {
  const beside = path.join(HERE, 'runner.mjs');
  if (
    await stat(beside).then(
      () => true,
      () => false,
    )
  )
    return beside;
  await exec(process.execPath, ['--import', 'tsx', path.join(REPO_ROOT, 'runner/bundle.ts'), '--out', work], {
    cwd: REPO_ROOT,
  });
  return path.join(work, 'runner.mjs');
}

/** The libraries a binary loads, under the paths the loader looks for them (`ldd`'s answer). */
async function sharedLibraries(binary: string): Promise<{ path: string; file: string }[]> {
  const { stdout } = await exec('ldd', [binary]);
  const out: { path: string; file: string }[] = [];
  for (const m of stdout.matchAll(/(?:=>\s*)?(\/\S+)\s+\(0x/g)) {
    out.push({ path: m[1]!, file: await realpath(m[1]!) });
  }
  if (out.length === 0) throw new Error(`ldd found no libraries for ${binary}`);
  return out;
}

/** A ustar stream of the entries (files streamed from disk, never held whole in memory). */
async function* tarEntries(entries: Entry[]): AsyncGenerator<Buffer> {
  for (const e of entries) {
    const size = typeof e.source === 'string' ? (await stat(e.source)).size : e.source.length;
    yield header(e.name, size, e.mode);
    if (typeof e.source === 'string') {
      for await (const chunk of createReadStream(e.source)) yield chunk as Buffer;
    } else {
      yield e.source;
    }
    const pad = (512 - (size % 512)) % 512;
    if (pad) yield Buffer.alloc(pad);
  }
  yield Buffer.alloc(1024);
}

function header(name: string, size: number, mode: number): Buffer {
  if (Buffer.byteLength(name) > 100) throw new Error(`path too long for the build context: ${name}`);
  const h = Buffer.alloc(512);
  const field = (text: string, offset: number, length: number) => h.write(text, offset, length, 'utf8');
  const octal = (n: number, offset: number, length: number) =>
    field(`${n.toString(8).padStart(length - 1, '0')}\0`, offset, length);
  field(name, 0, 100);
  octal(mode, 100, 8);
  octal(0, 108, 8);
  octal(0, 116, 8);
  octal(size, 124, 12);
  octal(0, 136, 12);
  field('        ', 148, 8);
  field('0', 156, 1);
  field('ustar\0', 257, 6);
  field('00', 263, 2);
  let sum = 0;
  for (const b of h) sum += b;
  field(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 8);
  return h;
}
