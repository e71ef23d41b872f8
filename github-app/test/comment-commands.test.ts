/** `/gantry` comment commands on pull requests, end to end through probot.receive(). */
import { describe, expect, it } from 'vitest';
import { HELP } from '../src/comment-commands.ts';
import { type Harness, harness, REPOSITORY, sha } from './setup.ts';

const REPO_PATH = '/repos/Codertocat/Hello-World';
const COMMITS = [sha('a1'), sha('b2'), sha('c3')];

/** Production at revisions 1..3 (3 active), commenters with their roles. */
async function deployed(): Promise<Harness> {
  const h = await harness();
  for (const c of COMMITS) {
    h.control.addBuild(REPOSITORY, c);
    await h.push(c);
  }
  h.gh.permissions.set('maintainer', 'admin');
  h.gh.permissions.set('writer', 'write');
  h.gh.permissions.set('reader', 'read');
  h.gh.calls = [];
  h.control.calls = [];
  return h;
}

const replies = (h: Harness) => h.gh.bodies('POST', /issues\/1\/comments$/).map((b) => String(b['body']));

describe('comment commands', () => {
  it('rollback: reacts at once, rolls production back to the revision before, records who and why', async () => {
    const h = await deployed();
    await h.comment('/gantry rollback', { user: 'maintainer' });
    const routes = h.gh.routes();
    expect(routes[0]).toBe(`POST ${REPO_PATH}/issues/comments/492700400/reactions`);
    expect(h.gh.bodies('POST', /reactions$/)).toEqual([{ content: 'eyes' }]);
    expect(routes).toContain(`GET ${REPO_PATH}/collaborators/maintainer/permission`);
    expect(h.control.calls).toEqual(['rollout codertocat/hello production 2']);
    // A rollback switches at once, and control records who asked from where.
    expect(h.control.rollouts.at(-1)!.why).toEqual({
      by: 'github:maintainer',
      reason:
        '/gantry rollback by @maintainer (https://github.com/Codertocat/Hello-World/pull/1#issuecomment-492700400)',
      strategy: 'recreate',
    });
    expect(await h.ledger.lastRollout(REPOSITORY, 'production')).toMatchObject({
      revision: 2,
      kind: 'rollback',
      by: 'maintainer',
    });
    // GitHub's environment view is told where production now stands.
    expect(h.gh.bodies('POST', /\/deployments$/)[0]).toMatchObject({
      ref: COMMITS[1],
      environment: 'production',
      description: 'Rollback to revision 2 by @maintainer',
    });
    expect(h.gh.bodies('POST', /statuses$/).at(-1)).toEqual({
      state: 'success',
      description: 'Rolled back to revision 2 by @maintainer',
    });
    expect(replies(h)).toEqual([
      '↩️ Rolled **production** of `codertocat/hello` back from revision 3 to revision 2 (b2b2b2b): instant, the old image is reused. Recorded as a rollout by @maintainer.',
    ]);
    // No rebuild: no revision was created.
    expect(h.control.calls.some((c) => c.startsWith('createRevision'))).toBe(false);
  });

  it('rollback to a numbered revision, and a pending push does not roll it forward again', async () => {
    const h = await deployed();
    await h.push(sha('f6')); // queued: its build is not registered yet
    await h.comment('/gantry rollback production to 1', { user: 'maintainer' });
    expect(h.control.active('codertocat/hello', 'production')).toBe(1);
    expect(h.gh.bodies('POST', /statuses$/)).toContainEqual({
      state: 'inactive',
      description: 'Superseded by a rollback to revision 1',
    });
    await h.gantry.buildRegistered(h.control.addBuild(REPOSITORY, sha('f6')));
    expect(h.control.active('codertocat/hello', 'production')).toBe(1);
  });

  it('rollback to a revision that does not exist says which exist', async () => {
    const h = await deployed();
    await h.comment('/gantry rollback to 9', { user: 'maintainer' });
    expect(replies(h)).toEqual(['production has no revision 9 (it has 3, 2, 1).']);
    expect(h.control.calls).toEqual([]);
  });

  it('refuses politely when the commenter lacks permission, and changes nothing', async () => {
    const h = await deployed();
    // production asks for admin in gantry.yml; write is not enough there.
    await h.comment('/gantry rollback', { user: 'writer' });
    await h.comment('/gantry scale production keep_alive=60', { user: 'reader' });
    expect(replies(h)).toEqual([
      'Sorry @writer, `/gantry rollback` on production needs **admin** permission on this repository and you have **write**. Nothing was changed.',
      'Sorry @reader, `/gantry scale` on production needs **admin** permission on this repository and you have **read**. Nothing was changed.',
    ]);
    expect(h.control.calls).toEqual([]);
    expect(h.gh.bodies('POST', /\/deployments$/)).toEqual([]);
  });

  it("deploy: puts this pull request's head on an environment the config allows", async () => {
    const h = await deployed();
    const head = sha('ab');
    h.gh.pulls.set(1, {
      number: 1,
      title: 'Update the README',
      user: { login: 'writer' },
      merged_at: null,
      merge_commit_sha: null,
      html_url: 'https://github.com/Codertocat/Hello-World/pull/1',
      head: { sha: head, ref: 'readme' },
    });
    h.gh.setFile('.github/gantry.yml', (await import('./setup.ts')).CONFIG, head);
    h.control.addBuild(REPOSITORY, head);
    await h.comment('/gantry deploy staging', { user: 'writer' });
    expect(h.gh.bodies('POST', /\/deployments$/)[0]).toMatchObject({ ref: head, environment: 'staging' });
    expect(h.control.calls).toContain('createRevision codertocat/hello staging abababa');
    expect(replies(h)).toEqual([
      '🚀 Deployed abababa to **staging**: revision 1 of `codertocat/hello--staging`.',
    ]);

    await h.comment('/gantry deploy production', { user: 'maintainer' });
    expect(replies(h)[1]).toMatch(/does not allow `\/gantry deploy` to \*\*production\*\*/);
  });

  it('status: a table of environments, active revision, runners, queue depth and last rollout', async () => {
    const h = await deployed();
    h.now.t += 120_000;
    await h.comment('/gantry status', { user: 'reader' });
    expect(replies(h)).toEqual([
      [
        '| environment | endpoint | active revision | runners | queued | last rollout |',
        '| --- | --- | --- | --- | --- | --- |',
        '| production | `codertocat/hello` | 3 | 1 | 0 | revision 3, push by @Codertocat, 2 min ago |',
      ].join('\n'),
    ]);
  });

  it('scale: changes runtime settings; a bad value gets a clear message', async () => {
    const h = await deployed();
    await h.comment('/gantry scale production keep_alive=600 min_concurrency=1', { user: 'maintainer' });
    expect(h.control.calls).toEqual([
      'setScaling codertocat/hello production {"keep_alive":600,"min_concurrency":1}',
    ]);
    expect(replies(h)[0]).toMatch(
      /^⚖️ Scaling of \*\*production\*\* .* is now `keep_alive=600`, `min_concurrency=1`/,
    );

    await h.comment('/gantry scale production keep_alive=-1', { user: 'maintainer' });
    expect(replies(h)[1]).toBe(
      'Gantry control refused: keep_alive must be a number from 0 to 86400, got -1.',
    );
    await h.comment('/gantry scale production keep_alive=soon', { user: 'maintainer' });
    expect(replies(h)[2]).toBe(`\`keep_alive\` must be a number, got \`soon\`.\n\n${HELP}`);
    await h.comment('/gantry scale production warp=9', { user: 'maintainer' });
    expect(replies(h)[3]).toMatch(/^`warp` is not a runtime scaling setting; use one of `keep_alive`/);
  });

  it('help, unknown commands and bad arguments get the help text', async () => {
    const h = await deployed();
    await h.comment('/gantry help');
    await h.comment('/gantry launch');
    await h.comment('/gantry rollback production to latest');
    expect(replies(h)).toEqual([
      HELP,
      `I don't know the command \`launch\`.\n\n${HELP}`,
      `Use \`/gantry rollback [environment] [to <revision number>]\`.\n\n${HELP}`,
    ]);
    expect(h.gh.bodies('POST', /reactions$/)).toHaveLength(3);
    expect(h.control.calls).toEqual([]);
  });

  it('ignores edited comments, bot comments and comments that are not commands', async () => {
    const h = await deployed();
    await h.comment('/gantry rollback', {
      user: 'maintainer',
      name: 'issue_comment.edited',
      action: 'edited',
    });
    await h.comment('/gantry rollback', { user: 'gantry[bot]', type: 'Bot' });
    await h.comment('Looks good to me! /gantry rollback later?', { user: 'maintainer' });
    expect(h.gh.calls).toEqual([]);
    expect(h.control.calls).toEqual([]);
  });
});
