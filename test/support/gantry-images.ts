/**
 * Gantry's own images, built the way a user builds them: the component's bundle (`tsx
 * <component>/bundle.ts`) beside its Containerfile, then `buildah bud` with BASE_IMAGE, straight
 * into a test engine's storage (so podman runs them without a pull) and pushed to the test registry
 * when a reference by digest is wanted.
 */
import { execFile } from 'node:child_process';
import { cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const exec = promisify(execFile);
const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));

export type GantryComponent = 'runner' | 'control';

export interface BuiltImage {
  /** The tag it was built under (in the engine's storage, and in the registry when pushed). */
  tag: string;
}

/**
 * Bundles a component and builds its image from its Containerfile. `env` points buildah at the
 * storage to build into (a TestEngine's `env`).
 */
export async function buildGantryImage(o: {
  component: GantryComponent;
  baseImage: string;
  tag: string;
  env: Record<string, string>;
}): Promise<BuiltImage> {
  const context = await mkdtemp(path.join(tmpdir(), `gantry-${o.component}-image-`));
  try {
    await exec(
      process.execPath,
      [
        '--import',
        'tsx',
        path.join(REPO_ROOT, o.component, 'bundle.ts'),
        '--out',
        path.join(context, 'dist'),
      ],
      { cwd: REPO_ROOT },
    );
    for (const f of ['Containerfile', '.dockerignore']) {
      await cp(path.join(REPO_ROOT, o.component, f), path.join(context, f));
    }
    await buildahBud({
      containerfile: path.join(context, 'Containerfile'),
      context,
      tag: o.tag,
      baseImage: o.baseImage,
      env: o.env,
    });
    return { tag: o.tag };
  } finally {
    await rm(context, { recursive: true, force: true });
  }
}

/** Pushes an image from the engine's storage to a plain-HTTP registry; returns `repo@sha256:…`. */
export async function pushImage(tag: string, env: Record<string, string>): Promise<string> {
  const dir = await mkdtemp(path.join(tmpdir(), 'gantry-push-'));
  try {
    const digestFile = path.join(dir, 'digest');
    await run('buildah', ['push', '--quiet', '--tls-verify=false', '--digestfile', digestFile, tag], env);
    const digest = (await readFile(digestFile, 'utf8')).trim();
    return `${tag.replace(/:[^/:]+$/, '')}@${digest}`;
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

async function run(cmd: string, args: string[], env: Record<string, string>): Promise<string> {
  try {
    const { stdout } = await exec(cmd, args, { env: { ...process.env, ...env }, maxBuffer: 16 << 20 });
    return stdout;
  } catch (err) {
    const e = err as { stderr?: string; message: string };
    throw new Error(`${cmd} ${args.slice(0, 2).join(' ')} failed: ${e.stderr?.trim() || e.message}`);
  }
}

/** Builds an image from a Containerfile text and files (name → content) into the engine's storage. */
export async function buildImageFrom(o: {
  containerfile: string;
  files: Record<string, string>;
  tag: string;
  env: Record<string, string>;
}): Promise<string> {
  const context = await mkdtemp(path.join(tmpdir(), 'gantry-image-'));
  try {
    await writeFile(path.join(context, 'Containerfile'), o.containerfile);
    for (const [name, text] of Object.entries(o.files)) await writeFile(path.join(context, name), text);
    await buildahBud({ containerfile: path.join(context, 'Containerfile'), context, tag: o.tag, env: o.env });
    return o.tag;
  } finally {
    await rm(context, { recursive: true, force: true });
  }
}

/**
 * Builds one of this repository's own Containerfiles (examples/hello's) with the repository as the
 * build context, as its comment says to; the root .dockerignore keeps the context small.
 */
export async function buildRepoImage(o: {
  containerfile: string;
  baseImage: string;
  tag: string;
  env: Record<string, string>;
}): Promise<string> {
  await buildahBud({
    containerfile: path.join(REPO_ROOT, o.containerfile),
    context: REPO_ROOT,
    tag: o.tag,
    baseImage: o.baseImage,
    env: o.env,
  });
  return o.tag;
}

/** `buildah bud` of one Containerfile into the storage `env` names, with BASE_IMAGE when given. */
async function buildahBud(o: {
  containerfile: string;
  context: string;
  tag: string;
  baseImage?: string;
  env: Record<string, string>;
}): Promise<void> {
  await run(
    'buildah',
    [
      'bud',
      '--quiet',
      '--isolation',
      'chroot',
      '--tls-verify=false',
      ...(o.baseImage ? ['--build-arg', `BASE_IMAGE=${o.baseImage}`] : []),
      '-f',
      o.containerfile,
      '-t',
      o.tag,
      o.context,
    ],
    o.env,
  );
}
