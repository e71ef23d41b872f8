/**
 * The image builder: `docker buildx` when the runner has it (GitHub's hosted runners do, with
 * docker/setup-buildx-action for registry caching), else `buildah`. This file decides which, spells
 * the commands, and counts cache hits in their output; run.ts runs them.
 *
 * buildah reads its storage driver and isolation from STORAGE_DRIVER and BUILDAH_ISOLATION, so
 * machines that need `--storage-driver vfs --isolation chroot` (containers without overlay or user
 * namespaces) set those in the step's `env`.
 */
import type { BuilderChoice } from './inputs.ts';

export type BuilderName = 'buildx' | 'buildah';

/** Runs a probe command and says whether it worked. */
export type Probe = (cmd: string, args: string[]) => Promise<boolean>;

export class BuilderUnavailableError extends Error {
  override name = 'BuilderUnavailableError';
}

/** Picks the builder: the one asked for (it must work), or buildx, then buildah. */
export async function chooseBuilder(requested: BuilderChoice, probe: Probe): Promise<BuilderName> {
  const buildx = () => probe('docker', ['buildx', 'version']);
  const buildah = () => probe('buildah', ['--version']);
  if (requested === 'buildx') {
    if (await buildx()) return 'buildx';
    throw new BuilderUnavailableError(
      '`docker buildx version` fails on this runner: add docker/setup-buildx-action before this step, or set builder: buildah.',
    );
  }
  if (requested === 'buildah') {
    if (await buildah()) return 'buildah';
    throw new BuilderUnavailableError(
      '`buildah --version` fails on this runner: install buildah (apt-get install buildah), or set builder: buildx.',
    );
  }
  if (await buildx()) return 'buildx';
  if (await buildah()) return 'buildah';
  throw new BuilderUnavailableError(
    'Neither `docker buildx` nor `buildah` works on this runner: use ubuntu-latest with docker/setup-buildx-action, or install buildah.',
  );
}

export interface BuildPlan {
  builder: BuilderName;
  contextDir: string;
  containerfile: string;
  /** Full reference to build and push, `<repository>:gantry-<hash>`. */
  tag: string;
  buildArgs: [string, string][];
  cacheRef: string | undefined;
  /** Plain HTTP, no TLS checks (loopback registries). */
  insecure: boolean;
}

export interface Command {
  cmd: string;
  args: string[];
}

/** A reference without its tag: buildah's cache options take a repository. */
const withoutTag = (ref: string) => ref.replace(/:[^/:]+$/, '');

/** The commands that build `plan.tag` and push it to the registry, in order. */
export function buildCommands(plan: BuildPlan): Command[] {
  const args = plan.buildArgs.flatMap(([k, v]) => ['--build-arg', `${k}=${v}`]);
  if (plan.builder === 'buildx') {
    const cache = plan.cacheRef
      ? [
          '--cache-from',
          `type=registry,ref=${plan.cacheRef}`,
          '--cache-to',
          // ECR stores a cache only as an OCI image manifest, not as buildx's default index.
          `type=registry,ref=${plan.cacheRef},mode=max,image-manifest=true,oci-mediatypes=true`,
        ]
      : [];
    return [
      {
        cmd: 'docker',
        args: [
          'buildx',
          'build',
          '--progress=plain',
          // One image manifest, not an index with an attestation: what ECS and every registry take.
          '--provenance=false',
          '--file',
          plan.containerfile,
          '--tag',
          plan.tag,
          ...args,
          ...cache,
          '--push',
          plan.contextDir,
        ],
      },
    ];
  }
  const tls = plan.insecure ? ['--tls-verify=false'] : [];
  const cache = plan.cacheRef
    ? ['--cache-from', withoutTag(plan.cacheRef), '--cache-to', withoutTag(plan.cacheRef)]
    : [];
  return [
    {
      cmd: 'buildah',
      args: [
        'bud',
        '--layers',
        ...tls,
        '--file',
        plan.containerfile,
        '--tag',
        plan.tag,
        ...args,
        ...cache,
        plan.contextDir,
      ],
    },
    { cmd: 'buildah', args: ['push', ...tls, plan.tag, `docker://${plan.tag}`] },
  ];
}

export interface CacheUse {
  /** Build steps seen. */
  steps: number;
  /** Steps answered from the cache. */
  cached: number;
}

/** Counts steps and cache hits in a builder's output, line by line. */
export function cacheCounter(builder: BuilderName): { onLine(line: string): void; use(): CacheUse } {
  const use: CacheUse = { steps: 0, cached: 0 };
  const buildxSteps = new Set<string>();
  const buildxCached = new Set<string>();
  return {
    onLine(line) {
      if (builder === 'buildah') {
        if (/^STEP \d+\/\d+: /.test(line)) use.steps++;
        else if (/^--> Using cache /.test(line)) use.cached++;
        return;
      }
      // Plain progress: `#7 [2/4] COPY …` opens a step, `#7 CACHED` marks it answered from cache.
      const step = /^#(\d+) \[[^\]]*\d+\/\d+\]/.exec(line);
      if (step) buildxSteps.add(step[1]!);
      const cached = /^#(\d+) CACHED$/.exec(line.trim());
      if (cached) buildxCached.add(cached[1]!);
    },
    use: () => (builder === 'buildah' ? { ...use } : { steps: buildxSteps.size, cached: buildxCached.size }),
  };
}
