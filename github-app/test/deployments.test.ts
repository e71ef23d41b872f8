/** Push → GitHub Deployment → revision, in both orders; supersession; invalid config; merged pull requests. */
import { describe, expect, it } from 'vitest';
import { CONFIG, fixture, harness, PUBLIC_URL, REPOSITORY, sha } from './setup.ts';

const A = sha('a1');
const B = sha('b2');
const REPO_PATH = '/repos/Codertocat/Hello-World';

describe('push to an environment branch', () => {
  it('is queued until the build is registered, then in_progress, then success', async () => {
    const h = await harness();
    await h.push(A);
    expect(h.gh.routes()).toEqual([
      `GET ${REPO_PATH}/contents/.github%2Fgantry.yml`,
      `POST ${REPO_PATH}/deployments`,
      `POST ${REPO_PATH}/deployments/100/statuses`,
    ]);
    expect(h.gh.calls[1]!.query).toEqual({ ref: A });
    expect(h.gh.bodies('POST', /\/deployments$/)[0]).toEqual({
      ref: A,
      environment: 'production',
      auto_merge: false,
      required_contexts: [],
      transient_environment: false,
      production_environment: true,
      description: 'Gantry: codertocat/hello at a1a1a1a',
      payload: { gantry: { app: 'Codertocat/hello', environment: 'production' } },
    });
    expect(h.gh.bodies('POST', /statuses$/)).toEqual([
      { state: 'queued', description: 'Waiting for the build of a1a1a1a' },
    ]);
    expect(h.control.calls).toEqual([]);

    h.gh.calls = [];
    await h.gantry.buildRegistered(h.control.addBuild(REPOSITORY, A));
    expect(h.gh.routes()).toEqual([
      `POST ${REPO_PATH}/deployments/100/statuses`,
      `GET ${REPO_PATH}/commits/${A}/pulls`,
      `POST ${REPO_PATH}/deployments/100/statuses`,
    ]);
    const statuses = h.gh.bodies('POST', /statuses$/);
    expect(statuses[0]).toEqual({ state: 'in_progress', description: 'Rolling out a1a1a1a' });
    expect(statuses[1]).toEqual({
      state: 'success',
      description: 'Revision 1 of codertocat/hello is live',
      environment_url: `${PUBLIC_URL}/queue/codertocat/hello`,
      log_url: `${PUBLIC_URL}/#/apps/codertocat/hello/production`,
    });
    expect(h.control.calls).toEqual([
      'ensureApp codertocat/hello public',
      'createRevision codertocat/hello production a1a1a1a',
      'setScaling codertocat/hello production {"keep_alive":300}',
      'rollout codertocat/hello production 1',
    ]);
    const rev = (await h.control.revisions('codertocat', 'hello', 'production'))[0]!;
    expect(rev).toMatchObject({
      active: true,
      commit_sha: A,
      message: 'Change things',
      image: h.control.builds_[0]!.image,
      annotations: { repository: REPOSITORY, ref: 'refs/heads/main', github_deployment_id: 100 },
    });
  });

  it('gives the same result when the build is registered before the push', async () => {
    const h = await harness();
    h.control.addBuild(REPOSITORY, A);
    await h.push(A);
    expect(h.gh.bodies('POST', /statuses$/).map((s) => s['state'])).toEqual([
      'queued',
      'in_progress',
      'success',
    ]);
    expect(h.control.active('codertocat/hello', 'production')).toBe(1);
    // A late duplicate notification of the same build changes nothing.
    await h.gantry.buildRegistered(h.control.builds_[0]!);
    expect(h.gh.bodies('POST', /statuses$/)).toHaveLength(3);
    expect(h.control.calls.filter((c) => c.startsWith('rollout'))).toHaveLength(1);
  });

  it('sends code settings from gantry.yml with the revision', async () => {
    const h = await harness();
    h.control.addBuild(REPOSITORY, A);
    await h.push(A);
    expect(h.control.apps.get('codertocat/hello')?.auth).toBe('public');
  });

  it('ignores branches that map to no environment, tags and repositories without gantry.yml', async () => {
    const h = await harness();
    await h.push(A, 'feature/x');
    await h.receive('push', fixture('push', { ref: 'refs/tags/v1', after: A }));
    expect(h.gh.routes().filter((r) => !r.includes('/contents/'))).toEqual([]);
    const bare = await harness(null);
    await bare.push(A);
    expect(bare.gh.routes()).toEqual([`GET ${REPO_PATH}/contents/.github%2Fgantry.yml`]);
  });

  it('waits for a rolling rollout: success once it switched, failure when it was aborted', async () => {
    const h = await harness();
    h.control.rolloutScript = [
      { id: 'ro-1', state: 'in_progress', detail: null },
      { id: 'ro-1', state: 'completed', detail: null },
    ];
    await h.push(A);
    await h.gantry.buildRegistered(h.control.addBuild(REPOSITORY, A));
    expect(h.control.calls).toContain('rolloutState ro-1');
    expect(h.gh.bodies('POST', /statuses$/).at(-1)).toMatchObject({ state: 'success' });

    h.control.rolloutScript = [
      { id: 'ro-2', state: 'in_progress', detail: null },
      {
        id: 'ro-2',
        state: 'aborted',
        detail:
          'the first runner ended before it was healthy: smoke request POST /predict answered 500, expected 200: CUDA out of memory',
      },
    ];
    await h.push(B);
    await h.gantry.buildRegistered(h.control.addBuild(REPOSITORY, B));
    expect(h.gh.bodies('POST', /statuses$/).at(-1)).toMatchObject({
      state: 'failure',
      // The cause fits GitHub's 140 characters.
      description: expect.stringMatching(
        /^Revision 2 failed its deploy gate: the first runner ended before it was healthy: smoke request POST \/predict answered 500, expected 200/,
      ),
    });
    // Production still serves revision 1.
    const revs = await h.control.revisions('codertocat', 'hello', 'production');
    expect(revs.find((r) => r.active)?.number).toBe(1);
  });

  it('a branch cannot route itself to production by editing its own gantry.yml', async () => {
    const h = await harness();
    // The default branch maps only main and staging; this branch's file claims production for itself.
    h.gh.setFile('.github/gantry.yml', `app: hello\nbranches:\n  sneaky: production\n`, A);
    await h.push(A, 'sneaky');
    expect(h.gh.bodies('POST', /\/deployments$/)).toEqual([]);
    expect(h.control.calls).toEqual([]);
  });

  it('maps branches by glob', async () => {
    const h = await harness(`app: hello\nbranches:\n  "release/**": staging\n`);
    await h.push(A, 'release/1.2/rc');
    expect(h.gh.bodies('POST', /\/deployments$/)[0]).toMatchObject({ environment: 'staging' });
  });

  it('fails the deployment with the reason when control refuses', async () => {
    const h = await harness();
    h.control.addBuild(REPOSITORY, A);
    h.control.createRevision = async () => {
      throw Object.assign(
        new (await import('../src/control-client.ts')).ControlApiError(400, {
          code: 'GANTRY_ERR_INVALID_SETTING',
          message: 'max_multiplexing must be a number from 1 to 1000, got 0.',
        }),
      );
    };
    await h.push(A);
    expect(h.gh.bodies('POST', /statuses$/).at(-1)).toEqual({
      state: 'failure',
      description: 'Gantry control refused: max_multiplexing must be a number from 1 to 1000, got 0.',
    });
  });
});

describe('two pushes close together', () => {
  it('the newer commit wins and the older deployment says it was superseded', async () => {
    const h = await harness();
    await h.push(A);
    await h.push(B);
    expect(h.gh.bodies('POST', /deployments\/100\/statuses$/).at(-1)).toEqual({
      state: 'inactive',
      description: 'Superseded by b2b2b2b, a newer push to production',
    });
    // The newer build lands first, then the older one: the older is never rolled out.
    await h.gantry.buildRegistered(h.control.addBuild(REPOSITORY, B));
    await h.gantry.buildRegistered(h.control.addBuild(REPOSITORY, A));
    expect(h.control.calls.filter((c) => c.startsWith('createRevision'))).toEqual([
      'createRevision codertocat/hello production b2b2b2b',
    ]);
    const rev = (await h.control.revisions('codertocat', 'hello', 'production')).find((r) => r.active);
    expect(rev?.commit_sha).toBe(B);
  });

  it('with both builds already there, the environment ends on the newer commit', async () => {
    const h = await harness();
    h.control.addBuild(REPOSITORY, A);
    h.control.addBuild(REPOSITORY, B);
    await Promise.all([h.push(A), h.push(B)]);
    const rev = (await h.control.revisions('codertocat', 'hello', 'production')).find((r) => r.active);
    expect(rev?.commit_sha).toBe(B);
  });
});

describe('an invalid .github/gantry.yml', () => {
  it('fails a check run with an annotation on the offending line and deploys nothing', async () => {
    const bad = `${CONFIG.replace('keep_alive: 300', 'keep_alive: -5')}`;
    const h = await harness(bad);
    await h.push(A);
    expect(h.gh.routes()).toEqual([
      `GET ${REPO_PATH}/contents/.github%2Fgantry.yml`,
      `POST ${REPO_PATH}/check-runs`,
    ]);
    const check = h.gh.bodies('POST', /check-runs$/)[0]!;
    expect(check).toMatchObject({
      name: 'Gantry config',
      head_sha: A,
      status: 'completed',
      conclusion: 'failure',
      output: {
        title: '.github/gantry.yml is not valid',
        annotations: [
          {
            path: '.github/gantry.yml',
            start_line: 6,
            end_line: 6,
            annotation_level: 'failure',
            message: '`scaling.keep_alive` must be >= 0',
          },
        ],
      },
    });
    expect(h.control.calls).toEqual([]);
  });

  it('points an unknown key at its own line, and broken YAML at where it breaks', async () => {
    const h = await harness('app: hello\nauth: public\nbranchs:\n  main: production\n');
    await h.push(A);
    expect(h.gh.bodies('POST', /check-runs$/)[0]).toMatchObject({
      output: { annotations: [{ start_line: 3, message: 'the file has an unknown key `branchs`' }] },
    });
    const y = await harness('app: hello\nscaling: [1,\n');
    await y.push(A);
    const [ann] = (
      y.gh.bodies('POST', /check-runs$/)[0]!['output'] as {
        annotations: { start_line: number; message: string }[];
      }
    ).annotations;
    expect(ann!.message).toMatch(/^not valid YAML/);
    expect(ann!.start_line).toBeGreaterThanOrEqual(2);
  });
});

describe('a merged pull request', () => {
  it('becomes the revision message and annotations, and the pull request gets a comment', async () => {
    const h = await harness();
    h.gh.pullsForCommit.set(A, [
      {
        number: 7,
        title: 'Faster sampler',
        user: { login: 'octo-dev' },
        merged_at: '2025-01-01T00:00:00Z',
        merge_commit_sha: A,
        html_url: 'https://github.com/Codertocat/Hello-World/pull/7',
        head: { sha: sha('c3'), ref: 'faster' },
      },
    ]);
    // The pull_request.closed event may come first; it changes nothing for production.
    await h.receive(
      'pull_request',
      fixture('pull_request.closed', { pull_request: { number: 7, merged: true } }),
    );
    h.control.addBuild(REPOSITORY, A);
    await h.push(A, 'main', 'Merge pull request #7 from octo-dev/faster');
    const rev = (await h.control.revisions('codertocat', 'hello', 'production'))[0]!;
    expect(rev.message).toBe('#7 Faster sampler');
    expect(rev.annotations).toMatchObject({
      pull_request: 7,
      pull_request_title: 'Faster sampler',
      pull_request_author: 'octo-dev',
      merge_commit: A,
    });
    const [comment] = h.gh.bodies('POST', /issues\/7\/comments$/);
    expect(comment!['body']).toContain('is **revision 1** of **production**, endpoint `codertocat/hello`');
    expect(comment!['body']).toContain(`curl -X POST ${PUBLIC_URL}/run/codertocat/hello`);
    expect(h.control.rollouts[0]!.why.reason).toBe('merged pull request #7');
  });
});
