/**
 * Gantry's promise, whole and on real images: git push → the commit serves requests.
 *
 * The Action builds examples/hello on a Node 24 base with buildah and pushes it to a loopback
 * registry, then registers the build with its OIDC token; the GitHub App (real webhook payloads,
 * GitHub's API answered in process) turns the push into a revision; control, with the container
 * driver against podman's Docker API service, pulls the image by digest, starts it beside the runner
 * image and serves the official fal client. A second push rolls out (rolling) while requests keep
 * coming, and none fails; a `/gantry rollback` comment brings the first image back without a build.
 * Last, `gantry deploy --image` puts the first image, by its digest, behind a second app.
 */
import { spawn } from 'node:child_process';
import { createHmac } from 'node:crypto';
import { cp, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createFalClient, type FalClient } from '@fal-ai/client';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { run as runAction } from '../../action/index.ts';
import { FakeGitHub, PRIVATE_KEY, WEBHOOK_SECRET } from '../../github-app/test/fake-github.ts';
import { fixture } from '../../github-app/test/setup.ts';
import { pushNodeBase } from '../support/base-image.ts';
import { eventually, REPO_ROOT, startTestControl, type TestControl } from '../support/control.ts';
import { buildGantryImage } from '../support/gantry-images.ts';
import { startTestRegistry, type TestRegistry } from '../support/oci-registry.ts';
import { startTestIssuer, type TestIssuer } from '../support/oidc-issuer.ts';
import { startTestEngine, type TestEngine } from '../support/podman.ts';

const REPOSITORY = 'Codertocat/Hello-World';
const ENDPOINT = 'codertocat/hello';
const GANTRY_YML = `app: hello
auth: public
machine_type: CPU
max_multiplexing: 2
scaling:
  keep_alive: 300
environments:
  production:
    permission: admin
`;
const A = 'a1'.repeat(20);
const B = 'b2'.repeat(20);

interface Rev {
  number: number;
  active: boolean;
  commit_sha: string;
  image: string | null;
}

describe('git push → a served request, on real images', { timeout: 600_000 }, () => {
  let registry: TestRegistry;
  let engine: TestEngine;
  let issuer: TestIssuer;
  let control: TestControl;
  let fal: FalClient;
  let scratch: string;
  let workspace: string;
  let baseImage: string;
  let buildahEnv: Record<string, string>;
  const gh = new FakeGitHub();
  let delivery = 0;
  const images: Record<string, string> = {};

  beforeAll(async () => {
    scratch = await mkdtemp(path.join(tmpdir(), 'gantry-push-e2e-'));
    registry = await startTestRegistry();
    [engine, issuer] = await Promise.all([
      startTestEngine({ insecureRegistries: [registry.host] }),
      startTestIssuer(),
    ]);
    baseImage = await pushNodeBase(registry.host);
    const runner = await buildGantryImage({
      component: 'runner',
      baseImage,
      tag: 'localhost/gantry/runner:e2e',
      env: engine.env,
    });
    // The Action builds with a storage of its own, as on a CI machine: the engine pulls from the registry.
    const storageConf = path.join(scratch, 'storage.conf');
    await writeFile(
      storageConf,
      `[storage]\ndriver = "vfs"\nrunroot = "${scratch}/run"\ngraphroot = "${scratch}/graph"\n`,
    );
    buildahEnv = { CONTAINERS_STORAGE_CONF: storageConf, BUILDAH_ISOLATION: 'chroot' };

    control = await startTestControl({
      env: {
        GANTRY_COMPUTE: 'docker',
        DOCKER_HOST: engine.dockerHost,
        DOCKER_CONFIG: path.join(scratch, 'docker-config'),
        GANTRY_DOCKER_RUNNER_IMAGE: runner.tag,
        GANTRY_OIDC_ISSUER: issuer.url,
        APP_ID: '1',
        PRIVATE_KEY,
        WEBHOOK_SECRET,
      },
      githubFetch: gh.fetch,
    });
    for (const ref of [undefined, A, B]) gh.setFile('.github/gantry.yml', GANTRY_YML, ref);
    gh.permissions.set('maintainer', 'admin');
    fal = createFalClient({ proxyUrl: { url: `${control.url}/fal/proxy`, when: 'always' } });

    workspace = path.join(scratch, 'workspace');
    await mkdir(workspace);
    for (const p of ['.dockerignore', 'sdk/src', 'contract/src', 'examples/hello']) {
      await cp(path.join(REPO_ROOT, p), path.join(workspace, p), { recursive: true });
    }
  }, 600_000);

  afterAll(async () => {
    await control?.close();
    await engine?.close();
    await Promise.all([registry?.close(), issuer?.close()]);
    if (scratch) await rm(scratch, { recursive: true, force: true });
  }, 120_000);

  /** The Action on a commit, as GitHub runs it: inputs and context in the environment. */
  async function buildAndRegister(commit: string): Promise<string> {
    const outputFile = path.join(scratch, `output-${commit}`);
    await writeFile(outputFile, '');
    const env: Record<string, string> = {
      ...buildahEnv,
      GITHUB_REPOSITORY: REPOSITORY,
      GITHUB_SHA: commit,
      GITHUB_REF: 'refs/heads/main',
      GITHUB_WORKSPACE: workspace,
      GITHUB_OUTPUT: outputFile,
      GITHUB_STEP_SUMMARY: path.join(scratch, `summary-${commit}`),
      ...issuer.actionsEnv(REPOSITORY),
      'INPUT_CONTROL-URL': control.url,
      'INPUT_IMAGE-REPOSITORY': `${registry.host}/codertocat/hello`,
      INPUT_CONTAINERFILE: 'examples/hello/Containerfile',
      'INPUT_BUILD-ARGS': `BASE_IMAGE=${baseImage}`,
      INPUT_BUILDER: 'buildah',
      'INPUT_REGISTRY-INSECURE': 'true',
    };
    await writeFile(env.GITHUB_STEP_SUMMARY!, '');
    const saved = new Map(Object.keys(env).map((k) => [k, process.env[k]]));
    Object.assign(process.env, env);
    let failed: string | undefined;
    const write = process.stdout.write.bind(process.stdout);
    const spy = vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
      const m = /^::error::(.*)$/m.exec(String(chunk));
      if (m) failed = m[1];
      return write(String(chunk).replace(/^::/gm, '> ::'));
    });
    try {
      await runAction();
    } finally {
      spy.mockRestore();
      for (const [k, v] of saved) {
        if (v === undefined) delete process.env[k];
        else process.env[k] = v;
      }
      process.exitCode = 0;
    }
    expect(failed).toBeUndefined();
    const outputs = await readFile(outputFile, 'utf8');
    // Outputs get defaults first; the last value written wins.
    const image = [...outputs.matchAll(/^image<<(\S+)\n(.*)\n\1$/gm)].at(-1)?.[2];
    expect(image).toMatch(/@sha256:[0-9a-f]{64}$/);
    return image!;
  }

  const deliver = async (name: string, payload: unknown) => {
    const body = JSON.stringify(payload);
    const res = await fetch(`${control.url}/api/github/webhooks`, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        'x-github-event': name,
        'x-github-delivery': `delivery-${++delivery}`,
        'x-hub-signature-256': `sha256=${createHmac('sha256', WEBHOOK_SECRET).update(body).digest('hex')}`,
      },
      body,
    });
    // 202: accepted, with work (a rollout) still under way.
    expect([200, 202]).toContain(res.status);
  };
  const push = (commit: string) =>
    deliver(
      'push',
      fixture('push', {
        ref: 'refs/heads/main',
        after: commit,
        head_commit: { id: commit, message: `commit ${commit.slice(0, 7)}` },
      }),
    );
  const revisions = async (): Promise<Rev[]> => {
    const res = await control.admin(`/v1/apps/${ENDPOINT}/environments/production/revisions`);
    return res.ok ? ((await res.json()) as { revisions: Rev[] }).revisions : [];
  };
  const active = async () => (await revisions()).find((r) => r.active);
  const hello = async (name: string) =>
    (await fal.subscribe(ENDPOINT, { input: { name }, logs: true, pollInterval: 100 })).data as {
      message: string;
    };

  it('push → build → revision → the image, pulled by digest, serves the fal client', async () => {
    await push(A);
    images[A] = await buildAndRegister(A);
    const rev = await eventually(
      async () => ((await active())?.commit_sha === A ? active() : undefined),
      60_000,
      'revision 1 live',
    );
    expect(rev).toMatchObject({ number: 1, image: images[A] });

    const result = await fal.subscribe(ENDPOINT, { input: { name: 'Ada' }, logs: true, pollInterval: 100 });
    expect(result.data).toEqual({ message: 'Hello, Ada!' });
    // The app's own output, relayed from its container through the runner, reaches the request's
    // logs (the engine's log stream may deliver it moments after the result).
    await eventually(
      async () => {
        const status = await fal.queue.status(ENDPOINT, { requestId: result.requestId, logs: true });
        const logs = 'logs' in status ? (status.logs ?? []) : [];
        return logs.some((l) => l.message.includes('greeting Ada')) ? true : undefined;
      },
      30_000,
      "the app's log line in the request's logs",
    );
    // The app ran from the image the Action pushed, pulled by its digest.
    expect(await engine.podman(['images', '--digests', '--format', '{{.Digest}}'])).toContain(
      images[A]!.split('@')[1],
    );
  });

  it('a second push rolls out while requests keep coming, and none of them fails', async () => {
    // The commit changes the greeting, so which image answered is visible.
    const model = path.join(workspace, 'examples/hello/model/greeter.json');
    await writeFile(model, (await readFile(model, 'utf8')).replace('Hello, {name}!', 'Hi there, {name}!'));
    images[B] = await buildAndRegister(B);
    expect(images[B]).not.toBe(images[A]);

    const answers: string[] = [];
    let pushed = false;
    const traffic = (async () => {
      // Bounded: a rollout that never finishes fails the test rather than hanging it.
      for (let i = 0; i < 400; i++) {
        answers.push((await hello('Ada')).message);
        if (pushed && answers.at(-1) === 'Hi there, Ada!') return;
      }
    })();
    await eventually(async () => (answers.length >= 2 ? true : undefined), 60_000, 'traffic');
    await push(B);
    pushed = true;
    await traffic;
    expect(answers.every((a) => a === 'Hello, Ada!' || a === 'Hi there, Ada!')).toBe(true);
    expect(answers.at(-1)).toBe('Hi there, Ada!');
    expect(await active()).toMatchObject({ number: 2, commit_sha: B, image: images[B] });
  });

  it('/gantry rollback brings the first image back without a build', async () => {
    const comment = fixture('issue_comment.created', {
      installation: { id: 1 },
      comment: {
        id: 5,
        body: '/gantry rollback',
        html_url: `https://github.com/${REPOSITORY}/pull/1#issuecomment-5`,
        user: { login: 'maintainer', type: 'User' },
      },
      sender: { login: 'maintainer', type: 'User' },
    });
    (comment['issue'] as Record<string, unknown>)['pull_request'] = { url: 'x' };
    await deliver('issue_comment', comment);
    expect(await active()).toMatchObject({ number: 1, image: images[A] });
    expect(await revisions()).toHaveLength(2);
    await eventually(
      async () => ((await hello('Ada')).message === 'Hello, Ada!' ? true : undefined),
      120_000,
      'the first image answering again',
    );
  });

  it('`gantry deploy --image REF@sha256:…` puts a pushed image live behind a new app', async () => {
    // The CLI as a user runs it, from a folder with no gantry.json: everything comes from the flags.
    const env: Record<string, string> = {};
    for (const [k, v] of Object.entries(process.env))
      if (v !== undefined && !k.startsWith('GANTRY_')) env[k] = v;
    Object.assign(env, {
      GANTRY_URL: control.url,
      GANTRY_KEY: control.adminKey,
      XDG_CONFIG_HOME: path.join(scratch, 'cli-config'),
    });
    const app = 'codertocat/from-cli';
    const args = ['deploy', '--image', images[A]!, '--app', app, '--auth', 'public', '--timeout', '240'];
    const ran = await new Promise<{ code: number | null; stdout: string; stderr: string }>(
      (resolve, reject) => {
        const p = spawn(process.execPath, [path.join(REPO_ROOT, 'cli/bin/gantry.mjs'), ...args], {
          cwd: scratch,
          env,
          stdio: ['ignore', 'pipe', 'pipe'],
        });
        let stdout = '';
        let stderr = '';
        p.stdout.on('data', (c) => (stdout += c));
        p.stderr.on('data', (c) => (stderr += c));
        p.on('error', reject);
        p.on('close', (code) => resolve({ code, stdout, stderr }));
      },
    );
    expect(ran.code, ran.stderr).toBe(0);
    // The default strategy (rolling) reports live only once a runner of the image passed its health check.
    expect(ran.stdout).toMatch(
      /Deployed revision 1 to codertocat\/from-cli production: live, proven healthy/,
    );
    const res = await control.admin(`/v1/apps/${app}/environments/production/revisions`);
    expect(((await res.json()) as { revisions: Rev[] }).revisions).toMatchObject([
      { number: 1, active: true, image: images[A] },
    ]);
    const result = await fal.subscribe(app, { input: { name: 'Grace' }, pollInterval: 100 });
    expect(result.data).toEqual({ message: 'Hello, Grace!' });
  });
});
