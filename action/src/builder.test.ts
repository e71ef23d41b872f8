import { describe, expect, it } from 'vitest';
import { buildCommands, cacheCounter, chooseBuilder, type Probe } from './builder.ts';

const having =
  (...tools: string[]): Probe =>
  async (cmd) =>
    tools.includes(cmd === 'docker' ? 'buildx' : cmd);

describe('chooseBuilder', () => {
  it('prefers docker buildx, then buildah, when left to choose', async () => {
    expect(await chooseBuilder('auto', having('buildx', 'buildah'))).toBe('buildx');
    expect(await chooseBuilder('auto', having('buildah'))).toBe('buildah');
  });

  it('uses the builder asked for even when the other is present', async () => {
    expect(await chooseBuilder('buildah', having('buildx', 'buildah'))).toBe('buildah');
    expect(await chooseBuilder('buildx', having('buildx', 'buildah'))).toBe('buildx');
  });

  it('says what to install when the builder asked for, or any, is missing', async () => {
    await expect(chooseBuilder('buildx', having('buildah'))).rejects.toThrow(/setup-buildx-action/);
    await expect(chooseBuilder('buildah', having('buildx'))).rejects.toThrow(/install buildah/);
    await expect(chooseBuilder('auto', having())).rejects.toThrow(/Neither `docker buildx` nor `buildah`/);
  });

  it('probes buildx as a docker subcommand, so a docker without buildx does not count', async () => {
    const calls: string[] = [];
    const probe: Probe = async (cmd, args) => {
      calls.push(`${cmd} ${args.join(' ')}`);
      return cmd === 'buildah';
    };
    expect(await chooseBuilder('auto', probe)).toBe('buildah');
    expect(calls).toEqual(['docker buildx version', 'buildah --version']);
  });
});

describe('buildCommands', () => {
  const plan = {
    contextDir: '/w',
    containerfile: '/w/Containerfile',
    tag: 'reg.io/acme/app:gantry-abc',
    buildArgs: [['BASE_IMAGE', 'node:24-slim']] as [string, string][],
    cacheRef: 'reg.io/acme/app:buildcache',
    insecure: false,
  };

  it('pushes with buildx in one step, with a registry cache in the form ECR accepts', () => {
    const [c, ...rest] = buildCommands({ ...plan, builder: 'buildx' });
    expect(rest).toEqual([]);
    expect(c!.cmd).toBe('docker');
    expect(c!.args.join(' ')).toContain('--build-arg BASE_IMAGE=node:24-slim');
    expect(c!.args).toContain('type=registry,ref=reg.io/acme/app:buildcache');
    expect(c!.args).toContain(
      'type=registry,ref=reg.io/acme/app:buildcache,mode=max,image-manifest=true,oci-mediatypes=true',
    );
    expect(c!.args.slice(-2)).toEqual(['--push', '/w']);
  });

  it('builds then pushes with buildah, caching in the cache repository and skipping TLS only when asked', () => {
    const [bud, push] = buildCommands({ ...plan, builder: 'buildah', insecure: true });
    expect(bud!.args.slice(0, 3)).toEqual(['bud', '--layers', '--tls-verify=false']);
    expect(bud!.args.join(' ')).toContain('--cache-from reg.io/acme/app --cache-to reg.io/acme/app');
    expect(push!.args).toEqual(['push', '--tls-verify=false', plan.tag, `docker://${plan.tag}`]);
    const [plain] = buildCommands({ ...plan, builder: 'buildah', cacheRef: undefined });
    expect(plain!.args).not.toContain('--tls-verify=false');
    expect(plain!.args).not.toContain('--cache-from');
  });
});

describe('cacheCounter', () => {
  it('counts buildah steps and cache hits', () => {
    const c = cacheCounter('buildah');
    for (const l of [
      'STEP 1/3: FROM x',
      'STEP 2/3: COPY a b',
      '--> Using cache 12ab',
      'STEP 3/3: CMD x',
      '--> 34cd',
    ])
      c.onLine(l);
    expect(c.use()).toEqual({ steps: 3, cached: 1 });
  });

  it('counts buildx steps and cache hits in plain progress', () => {
    const c = cacheCounter('buildx');
    for (const l of ['#5 [1/3] FROM x', '#6 [2/3] COPY a b', '#6 CACHED', '#7 [3/3] RUN y', '#7 0.3 done'])
      c.onLine(l);
    expect(c.use()).toEqual({ steps: 3, cached: 1 });
  });
});
