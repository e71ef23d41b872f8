/**
 * The Action end to end through its own code path (`run()`, inputs as INPUT_* variables, outputs and
 * summary in the files GitHub names): examples/hello's Containerfile built by buildah, pushed to a
 * real docker-registry on loopback, read back, skipped when unchanged, and registered with a real
 * control service by a GitHub-like OIDC token.
 *
 * No base image can be pulled here, so the test builds a tiny one and pushes it to the registry
 * first; the Containerfile takes it as BASE_IMAGE. buildah runs with vfs storage in a temporary root
 * and chroot isolation, which work inside unprivileged containers.
 */
import { execFile } from 'node:child_process';
import { cp, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { run } from '../../action/index.ts';
import { REPO_ROOT, startTestControl, type TestControl } from '../support/control.ts';
import { startTestRegistry, type TestRegistry } from '../support/oci-registry.ts';
import { startTestIssuer, type TestIssuer } from '../support/oidc-issuer.ts';

const exec = promisify(execFile);
const REPOSITORY = 'acme/hello';
const sha = () =>
  Array.from({ length: 40 }, () => '0123456789abcdef'[Math.floor(Math.random() * 16)]).join('');

interface ActionRun {
  outputs: Record<string, string>;
  summary: string;
  failed: string | undefined;
  seconds: number;
}

describe('the Action builds, pushes and registers examples/hello', () => {
  let registry: TestRegistry;
  let issuer: TestIssuer;
  let control: TestControl;
  let scratch: string;
  let workspace: string;
  let imageRepository: string;
  let buildahEnv: Record<string, string>;
  let baseImage: string;

  beforeAll(async () => {
    scratch = await mkdtemp(path.join(tmpdir(), 'gantry-action-'));
    // Tests share the machine with other builds: buildah gets a storage of its own.
    const storageConf = path.join(scratch, 'storage.conf');
    await writeFile(
      storageConf,
      `[storage]\ndriver = "vfs"\nrunroot = "${scratch}/run"\ngraphroot = "${scratch}/graph"\n`,
    );
    buildahEnv = { CONTAINERS_STORAGE_CONF: storageConf, BUILDAH_ISOLATION: 'chroot' };
    [registry, issuer] = await Promise.all([startTestRegistry(), startTestIssuer()]);
    control = await startTestControl({ env: { GANTRY_OIDC_ISSUER: issuer.url } });
    imageRepository = `${registry.host}/${REPOSITORY}`;

    // The local base image: one small file on scratch, pushed to the registry.
    baseImage = `${registry.host}/base:test`;
    const env = { ...process.env, ...buildahEnv };
    const ctr = (await exec('buildah', ['from', 'scratch'], { env })).stdout.trim();
    await writeFile(path.join(scratch, 'os-release'), 'NAME="gantry test base"\n');
    await exec('buildah', ['copy', ctr, path.join(scratch, 'os-release'), '/etc/os-release'], { env });
    await exec('buildah', ['commit', ctr, baseImage], { env });
    await exec('buildah', ['rm', ctr], { env });
    await exec('buildah', ['push', '--tls-verify=false', baseImage], { env });

    // The user's repository checkout: this repository's files that examples/hello's image needs.
    workspace = path.join(scratch, 'workspace');
    await mkdir(workspace);
    for (const p of ['.dockerignore', 'sdk/src', 'contract/src', 'examples/hello']) {
      await cp(path.join(REPO_ROOT, p), path.join(workspace, p), { recursive: true });
    }
  }, 120_000);

  afterAll(async () => {
    await control?.close();
    await Promise.all([registry?.close(), issuer?.close()]);
    await rm(scratch, { recursive: true, force: true });
  });

  /** Runs the Action as GitHub would: inputs and context in the environment, outputs in files. */
  async function runAction(o: {
    commit: string;
    inputs?: Record<string, string>;
    oidcRepository?: string | null;
    /** Run the committed bundle in a child process, as GitHub does, instead of run() in this one. */
    viaDist?: boolean;
  }): Promise<ActionRun> {
    const outputFile = path.join(scratch, `output-${o.commit}`);
    const summaryFile = path.join(scratch, `summary-${o.commit}`);
    await writeFile(outputFile, '');
    await writeFile(summaryFile, '');
    const inputs: Record<string, string> = {
      'control-url': control.url,
      'image-repository': imageRepository,
      containerfile: 'examples/hello/Containerfile',
      'build-args': `BASE_IMAGE=${baseImage}`,
      builder: 'buildah',
      'registry-insecure': 'true',
      ...o.inputs,
    };
    const env: Record<string, string> = {
      ...buildahEnv,
      GITHUB_REPOSITORY: REPOSITORY,
      GITHUB_SHA: o.commit,
      GITHUB_REF: 'refs/heads/main',
      GITHUB_WORKSPACE: workspace,
      GITHUB_OUTPUT: outputFile,
      GITHUB_STEP_SUMMARY: summaryFile,
      ...(o.oidcRepository === null ? {} : issuer.actionsEnv(o.oidcRepository ?? REPOSITORY)),
    };
    for (const [k, v] of Object.entries(inputs)) env[`INPUT_${k.toUpperCase()}`] = v;
    if (o.viaDist) {
      const started = performance.now();
      const r = await exec(process.execPath, [path.join(REPO_ROOT, 'action/dist/index.js')], {
        env: { ...process.env, ...env },
      }).catch((err: { stdout: string; code: number }) => ({ stdout: err.stdout, code: err.code }));
      const failed = /^::error::(.*)$/m.exec(r.stdout)?.[1];
      return {
        outputs: await readOutputs(outputFile),
        summary: await readFile(summaryFile, 'utf8'),
        failed,
        seconds: (performance.now() - started) / 1000,
      };
    }
    const saved = new Map(Object.keys(env).map((k) => [k, process.env[k]]));
    Object.assign(process.env, env);
    let failed: string | undefined;
    const write = process.stdout.write.bind(process.stdout);
    const spy = vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
      const text = String(chunk);
      const m = /^::error::(.*)$/m.exec(text);
      if (m) failed = m[1]!.replace(/%0A/g, '\n');
      // Shown, but not as workflow commands: this suite's own CI must not turn an expected failure
      // into an error annotation, nor mask test tokens.
      return write(text.replace(/^::/gm, '> ::'));
    });
    const started = performance.now();
    try {
      await run();
    } finally {
      spy.mockRestore();
      for (const [k, v] of saved) {
        if (v === undefined) delete process.env[k];
        else process.env[k] = v;
      }
      // setFailed sets the exit code of the process: vitest's here.
      process.exitCode = 0;
    }
    const seconds = (performance.now() - started) / 1000;
    return {
      outputs: await readOutputs(outputFile),
      summary: await readFile(summaryFile, 'utf8'),
      failed,
      seconds,
    };
  }

  /** Outputs from the GITHUB_OUTPUT file (`name<<delimiter`, value, delimiter); the last value wins. */
  async function readOutputs(file: string): Promise<Record<string, string>> {
    const outputs: Record<string, string> = {};
    const text = await readFile(file, 'utf8');
    for (const m of text.matchAll(/^([\w-]+)<<(\S+)\n([\s\S]*?)\n\2$/gm)) outputs[m[1]!] = m[3]!;
    return outputs;
  }

  /** The digest the registry serves for a tag, as skopeo (not the Action's own client) reads it. */
  async function servedDigest(ref: string): Promise<string> {
    const { stdout } = await exec('skopeo', ['inspect', '--tls-verify=false', `docker://${ref}`]);
    return (JSON.parse(stdout) as { Digest: string }).Digest;
  }

  async function buildsOf(commit: string) {
    const res = await control.admin(`/v1/builds?repository=${REPOSITORY}&commit=${commit}`);
    expect(res.status).toBe(200);
    return (
      (await res.json()) as { builds: { id: string; digest: string; image: string; content_hash: string }[] }
    ).builds;
  }

  let first: ActionRun;
  const firstCommit = sha();

  it('builds with buildah, pushes, and outputs the digest the registry serves; control holds the build', async () => {
    first = await runAction({ commit: firstCommit });
    expect(first.failed).toBeUndefined();
    const { outputs } = first;
    expect(outputs['skipped']).toBe('false');
    expect(outputs['digest']).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(outputs['image']).toBe(`${imageRepository}@${outputs['digest']}`);

    const tag = /`([^`]+:gantry-[0-9a-f]{64})`/.exec(first.summary)?.[1];
    expect(tag, first.summary).toBeDefined();
    expect(await servedDigest(tag!)).toBe(outputs['digest']);
    // The image is examples/hello's: its command, and no test files.
    const { stdout } = await exec('skopeo', ['inspect', '--tls-verify=false', '--config', `docker://${tag}`]);
    expect((JSON.parse(stdout) as { config: { Cmd: string[] } }).config.Cmd).toEqual([
      'node',
      'examples/hello/app.ts',
    ]);

    const builds = await buildsOf(firstCommit);
    expect(builds).toHaveLength(1);
    expect(builds[0]).toMatchObject({
      id: outputs['build-id'],
      digest: outputs['digest'],
      image: outputs['image'],
    });
    expect(first.summary).toMatch(/built with buildah in [\d.]+ s/);
    expect(first.summary).toContain(outputs['build-id']!);
    console.log(`first build: ${first.seconds.toFixed(1)} s`);
  }, 180_000);

  it('skips the build when nothing changed, and registers the image for the new commit', async () => {
    const commit = sha();
    const again = await runAction({ commit });
    expect(again.failed).toBeUndefined();
    expect(again.outputs).toMatchObject({
      skipped: 'true',
      digest: first.outputs['digest'],
      image: first.outputs['image'],
    });
    expect(again.summary).toContain(
      'skipped: an image with the same content hash is already in the registry',
    );
    const builds = await buildsOf(commit);
    expect(builds.map((b) => b.id)).toEqual([again.outputs['build-id']]);
    expect(again.outputs['build-id']).not.toBe(first.outputs['build-id']);
    console.log(`skipped build: ${again.seconds.toFixed(2)} s (first build ${first.seconds.toFixed(1)} s)`);
  }, 60_000);

  it('re-running for the same commit registers nothing new', async () => {
    const rerun = await runAction({ commit: firstCommit });
    expect(rerun.outputs).toMatchObject({ skipped: 'true', 'build-id': first.outputs['build-id'] });
    expect(rerun.summary).toContain('was already registered');
    expect(await buildsOf(firstCommit)).toHaveLength(1);
  }, 60_000);

  it('ignores files the .dockerignore leaves out: a changed test file does not rebuild', async () => {
    await writeFile(path.join(workspace, 'examples/hello/app.test.ts'), '// changed\n', { flag: 'a' });
    const r = await runAction({ commit: sha() });
    expect(r.outputs['skipped']).toBe('true');
  }, 60_000);

  it('rebuilds with a new digest when a file of the image changes', async () => {
    const model = path.join(workspace, 'examples/hello/model/greeter.json');
    const json = JSON.parse(await readFile(model, 'utf8')) as Record<string, unknown>;
    await writeFile(model, JSON.stringify({ ...json, template: 'Hi, {name}!' }));
    const commit = sha();
    const changed = await runAction({ commit });
    expect(changed.failed).toBeUndefined();
    expect(changed.outputs['skipped']).toBe('false');
    expect(changed.outputs['digest']).not.toBe(first.outputs['digest']);
    expect((await buildsOf(commit))[0]?.digest).toBe(changed.outputs['digest']);
    // WORKDIR and the unchanged SDK layer come from buildah's layer cache.
    expect(changed.summary).toMatch(/[1-9]\d* of \d+ steps from cache/);
  }, 180_000);

  it('works the same from the committed bundle, action/dist/index.js, run as GitHub runs it', async () => {
    const commit = sha();
    const r = await runAction({ commit, viaDist: true });
    expect(r.failed).toBeUndefined();
    expect(r.outputs['skipped']).toBe('true');
    expect(r.outputs['digest']).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect((await buildsOf(commit))[0]?.id).toBe(r.outputs['build-id']);
    expect(r.summary).toContain(r.outputs['build-id']!);
  }, 60_000);

  it('registers with a deploy token when the workflow has no OIDC token', async () => {
    const commit = sha();
    const r = await runAction({ commit, oidcRepository: null, inputs: { 'deploy-token': control.adminKey } });
    expect(r.failed).toBeUndefined();
    expect(r.outputs['skipped']).toBe('true');
    expect((await buildsOf(commit))[0]?.id).toBe(r.outputs['build-id']);
  }, 60_000);

  it('fails with what to do when control refuses the token, keeping the image outputs', async () => {
    const commit = sha();
    const r = await runAction({ commit, oidcRepository: 'acme/other' });
    expect(r.failed).toMatch(/refused the build \(403 GANTRY_ERR_REPOSITORY_MISMATCH\)/);
    expect(r.failed).toMatch(/To fix: /);
    expect(r.outputs['build-id']).toBe('');
    expect(r.outputs['digest']).toMatch(/^sha256:/);
    expect(await buildsOf(commit)).toEqual([]);
  }, 60_000);

  it('fails before building when neither an OIDC token nor a deploy token is available', async () => {
    const r = await runAction({ commit: sha(), oidcRepository: null });
    expect(r.failed).toMatch(/permissions: id-token: write/);
  }, 60_000);

  it('fails with a clear message on bad inputs, with every output at its default', async () => {
    const r = await runAction({
      commit: sha(),
      inputs: { 'control-url': 'not a url', 'build-args': 'OOPS' },
    });
    expect(r.failed).toMatch(/"control-url" must be an http\(s\) URL/);
    expect(r.failed).toMatch(/"build-args": each line must be NAME=value/);
    expect(r.outputs).toEqual({ image: '', digest: '', 'build-id': '', skipped: 'false' });
  });
});
