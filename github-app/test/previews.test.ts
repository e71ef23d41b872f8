/** Pull-request previews: one environment pr-N per pull request, one comment kept up to date, torn down on close. */
import { describe, expect, it } from 'vitest';
import { PREVIEW_MARKER } from '../src/previews-comment.ts';
import { CONFIG, fixture, harness, REPOSITORY, sha } from './setup.ts';

const HEAD1 = sha('d4');
const HEAD2 = sha('e5');
const REPO_PATH = '/repos/Codertocat/Hello-World';

const pr = (action: string, head: string) =>
  fixture(`pull_request.${action}`, {
    action,
    number: 2,
    installation: { id: 1 },
    pull_request: {
      ...(fixture(`pull_request.${action}`)['pull_request'] as object),
      number: 2,
      title: 'Try a new scheduler',
      head: {
        ...((fixture(`pull_request.${action}`)['pull_request'] as Record<string, unknown>)['head'] as object),
        sha: head,
        ref: 'scheduler',
      },
    },
  });

describe('pull request previews', () => {
  it('opened: deploys pr-N, comments once; pushed: updates that comment; closed: tears down, inactive', async () => {
    const h = await harness();
    h.gh.setFile('.github/gantry.yml', CONFIG, HEAD1);
    h.gh.setFile('.github/gantry.yml', CONFIG, HEAD2);
    h.control.addBuild(REPOSITORY, HEAD1);
    await h.receive('pull_request', pr('opened', HEAD1));

    expect(h.gh.bodies('POST', /\/deployments$/)[0]).toMatchObject({
      ref: HEAD1,
      environment: 'pr-2',
      transient_environment: true,
      production_environment: false,
    });
    expect(h.control.calls).toContain('createRevision codertocat/hello pr-2 d4d4d4d');
    expect(h.control.active('codertocat/hello', 'pr-2')).toBe(1);
    expect(h.gh.comments).toHaveLength(1);
    expect(h.gh.comments[0]!.body).toContain(PREVIEW_MARKER);
    expect(h.gh.comments[0]!.body).toContain(
      'Preview **pr-2** is live: d4d4d4d is revision 1 of `codertocat/hello--pr-2`',
    );

    // A push to the pull request: the same comment is edited, not a new one.
    await h.receive('pull_request', pr('synchronize', HEAD2));
    expect(h.gh.comments).toHaveLength(1);
    expect(h.gh.comments[0]!.body).toContain('deploying e5e5e5e, waiting for its build');
    await h.gantry.buildRegistered(h.control.addBuild(REPOSITORY, HEAD2));
    expect(h.gh.comments).toHaveLength(1);
    expect(h.gh.comments[0]!.body).toContain('e5e5e5e is revision 2');
    expect(
      h.gh.routes().filter((r) => r.startsWith('POST') && r.endsWith('/issues/2/comments')),
    ).toHaveLength(1);

    h.gh.calls = [];
    await h.receive('pull_request', pr('closed', HEAD2));
    expect(h.control.calls.at(-1)).toBe('removeEnvironment codertocat/hello pr-2');
    const inactive = h.gh.bodies('POST', /statuses$/);
    expect(inactive).toEqual([
      { state: 'inactive', description: 'Preview torn down: pull request closed' },
      { state: 'inactive', description: 'Preview torn down: pull request closed' },
    ]);
    expect(h.gh.routes()).toContain(`PATCH ${REPO_PATH}/issues/comments/${h.gh.comments[0]!.id}`);
    expect(h.gh.comments[0]!.body).toContain('Preview **pr-2** was torn down (pull request closed)');
  });

  it('does nothing when previews are off', async () => {
    const off = CONFIG.replace('enabled: true', 'enabled: false');
    const h = await harness(off);
    h.gh.setFile('.github/gantry.yml', off, HEAD1);
    await h.receive('pull_request', pr('opened', HEAD1));
    // The PR's own file is read (and checked), then the default branch's, which decides previews.
    expect(h.gh.routes()).toEqual([
      `GET ${REPO_PATH}/contents/.github%2Fgantry.yml`,
      `GET ${REPO_PATH}/contents/.github%2Fgantry.yml`,
    ]);
    const reads = h.gh.calls.filter((c) => c.path.includes('/contents/'));
    expect(reads.map((c) => c.query['ref'])).toEqual([HEAD1, undefined]);
  });

  it('tears down a preview left without pushes past its expiry', async () => {
    const h = await harness();
    h.gh.setFile('.github/gantry.yml', CONFIG, HEAD1);
    h.control.addBuild(REPOSITORY, HEAD1);
    await h.receive('pull_request', pr('opened', HEAD1));
    h.now.t += 23 * 3_600_000;
    expect(await h.gantry.expirePreviews()).toBe(0);
    h.now.t += 2 * 3_600_000;
    expect(await h.gantry.expirePreviews()).toBe(1);
    expect(h.control.calls.at(-1)).toBe('removeEnvironment codertocat/hello pr-2');
    expect(h.gh.comments[0]!.body).toContain('torn down (no push for 24 hours)');
    expect(await h.gantry.expirePreviews()).toBe(0);
  });
});
