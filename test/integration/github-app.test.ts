/**
 * The GitHub App mounted in a real control service (embedded defaults, or PostgreSQL when
 * DATABASE_URL is set), with GitHub's API answered in process: signed deliveries over HTTP, the
 * build registered through control's own route, revisions and rollouts read back from control.
 */
import { createHmac } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FakeGitHub, PRIVATE_KEY, WEBHOOK_SECRET } from '../../github-app/test/fake-github.ts';
import { CONFIG, fixture, sha } from '../../github-app/test/setup.ts';
import { eventually, startTestControl, type TestControl } from '../support/control.ts';
import { startTestIssuer, type TestIssuer } from '../support/oidc-issuer.ts';

const REPOSITORY = 'Codertocat/Hello-World';
const A = sha('a1');
const B = sha('b2');

describe('the GitHub App in control', () => {
  let control: TestControl;
  let issuer: TestIssuer;
  const gh = new FakeGitHub();
  let delivery = 0;

  beforeAll(async () => {
    issuer = await startTestIssuer();
    control = await startTestControl({
      postgres: true,
      env: {
        APP_ID: '1',
        PRIVATE_KEY,
        WEBHOOK_SECRET,
        GANTRY_PUBLIC_URL: 'https://gantry.example.com',
        GANTRY_OIDC_ISSUER: issuer.url,
      },
      githubFetch: gh.fetch,
      // The deploy gate starts a runner of each pushed image before it serves.
      imagesAsHello: true,
    });
    gh.setFile('.github/gantry.yml', CONFIG);
    gh.setFile('.github/gantry.yml', CONFIG, A);
    gh.setFile('.github/gantry.yml', CONFIG, B);
    gh.permissions.set('maintainer', 'admin');
  });
  afterAll(async () => {
    await control?.close();
    await issuer?.close();
  });

  const deliver = (name: string, payload: unknown, signature?: string, id = `delivery-${++delivery}`) => {
    const body = JSON.stringify(payload);
    const sig = signature ?? `sha256=${createHmac('sha256', WEBHOOK_SECRET).update(body).digest('hex')}`;
    return fetch(`${control.url}/api/github/webhooks`, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        'x-github-event': name,
        'x-github-delivery': id,
        ...(sig === '' ? {} : { 'x-hub-signature-256': sig }),
      },
      body,
    });
  };
  const push = (commit: string) =>
    fixture('push', {
      ref: 'refs/heads/main',
      after: commit,
      head_commit: { id: commit, message: `commit ${commit.slice(0, 7)}` },
    });
  const registerBuild = async (commit: string) => {
    const hex = commit.slice(0, 2);
    const res = await control.admin('/v1/builds', {
      body: {
        repository: REPOSITORY,
        commit_sha: commit,
        ref: 'refs/heads/main',
        image: `reg.example.com/hello@sha256:${hex.repeat(32)}`,
        digest: `sha256:${hex.repeat(32)}`,
      },
    });
    expect(res.status).toBe(201);
  };
  type Rev = { number: number; active: boolean; commit_sha: string; message: string; annotations: object };
  const revisions = async (): Promise<Rev[]> => {
    const res = await control.admin('/v1/apps/codertocat/hello/environments/production/revisions');
    return res.ok ? ((await res.json()) as { revisions: Rev[] }).revisions : [];
  };

  it('refuses forged and unsigned deliveries with 401 and does nothing', async () => {
    const forged = await deliver('push', push(A), `sha256=${'0'.repeat(64)}`);
    expect(forged.status).toBe(401);
    expect(await forged.json()).toMatchObject({ code: 'GANTRY_ERR_WEBHOOK_SIGNATURE' });
    const unsigned = await deliver('push', push(A), '');
    expect(unsigned.status).toBe(401);
    // Signed with another secret: forged too.
    const body = JSON.stringify(push(A));
    const other = await fetch(`${control.url}/api/github/webhooks`, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        'x-github-event': 'push',
        'x-github-delivery': 'x',
        'x-hub-signature-256': `sha256=${createHmac('sha256', 'not-the-secret').update(body).digest('hex')}`,
      },
      body,
    });
    expect(other.status).toBe(401);
    expect(gh.calls).toEqual([]);
  });

  it('push → queued deployment → build registered → revision live → rollback from a comment', async () => {
    const res = await deliver('push', push(A));
    expect(res.status).toBe(200);
    expect(gh.bodies('POST', /statuses$/)).toEqual([
      { state: 'queued', description: 'Waiting for the build of a1a1a1a' },
    ]);
    expect((await control.admin('/v1/apps/codertocat/hello')).status).toBe(404);

    // The Action registers the build; control tells the App, which rolls it out.
    await registerBuild(A);
    await eventually(
      async () => ((await revisions()).find((r) => r.active) ? true : undefined),
      20_000,
      'revision 1',
    );
    const [first] = await revisions();
    expect(first).toMatchObject({ number: 1, active: true, commit_sha: A, message: 'commit a1a1a1a' });
    expect(first!.annotations).toMatchObject({ repository: REPOSITORY, ref: 'refs/heads/main' });
    await eventually(
      async () => (gh.bodies('POST', /statuses$/).some((s) => s['state'] === 'success') ? true : undefined),
      10_000,
      'success status',
    );
    expect(gh.bodies('POST', /statuses$/).map((s) => s['state'])).toEqual([
      'queued',
      'in_progress',
      'success',
    ]);
    expect(gh.bodies('POST', /statuses$/)[2]).toMatchObject({
      environment_url: 'https://gantry.example.com/queue/codertocat/hello',
      // The console's page of the environment, not an API route a browser cannot open.
      log_url: 'https://gantry.example.com/#/apps/codertocat/hello/production',
    });
    const scaling = (await (
      await control.admin('/v1/apps/codertocat/hello/environments/production/scaling')
    ).json()) as {
      keep_alive: number;
    };
    expect(scaling.keep_alive).toBe(300);

    // Build first this time, then the push.
    await registerBuild(B);
    expect((await deliver('push', push(B))).status).toBe(200);
    expect((await revisions()).find((r) => r.active)).toMatchObject({ number: 2, commit_sha: B });

    const comment = fixture('issue_comment.created', {
      installation: { id: 1 },
      comment: {
        id: 5,
        body: '/gantry rollback',
        html_url: 'https://github.com/Codertocat/Hello-World/pull/1#issuecomment-5',
        user: { login: 'maintainer', type: 'User' },
      },
      sender: { login: 'maintainer', type: 'User' },
    });
    (comment['issue'] as Record<string, unknown>)['pull_request'] = { url: 'x' };
    expect((await deliver('issue_comment', comment)).status).toBe(200);
    expect((await revisions()).find((r) => r.active)).toMatchObject({ number: 1, commit_sha: A });
    expect((await revisions()).length).toBe(2); // no rebuild, no new revision
    const recorded = await control.service.store.db.query<{ revision: number; kind: string; by: string }>(
      `SELECT revision, kind, by FROM github_rollouts WHERE environment='production' ORDER BY id`,
    );
    expect(recorded.rows).toEqual([
      { revision: 1, kind: 'push', by: 'Codertocat' },
      { revision: 2, kind: 'push', by: 'Codertocat' },
      { revision: 1, kind: 'rollback', by: 'maintainer' },
    ]);
    expect(String(gh.bodies('POST', /issues\/1\/comments$/).at(-1)?.['body'])).toMatch(
      /^↩️ Rolled \*\*production\*\* of `codertocat\/hello` back from revision 2 to revision 1/,
    );
  });

  it('a replayed delivery (same delivery id, valid signature) is answered and does nothing again', async () => {
    const comment = fixture('issue_comment.created', {
      installation: { id: 1 },
      comment: {
        id: 6,
        body: '/gantry status',
        html_url: 'https://github.com/Codertocat/Hello-World/pull/1#issuecomment-6',
        user: { login: 'maintainer', type: 'User' },
      },
      sender: { login: 'maintainer', type: 'User' },
    });
    (comment['issue'] as Record<string, unknown>)['pull_request'] = { url: 'x' };
    const replies = () => gh.bodies('POST', /issues\/1\/comments$/).length;
    const before = replies();
    expect((await deliver('issue_comment', comment, undefined, 'replayed-delivery')).status).toBe(200);
    expect(replies()).toBe(before + 1);
    const replay = await deliver('issue_comment', comment, undefined, 'replayed-delivery');
    expect(replay.status).toBe(200);
    expect(await replay.json()).toMatchObject({ duplicate: true });
    expect(replies()).toBe(before + 1);
  });

  it('a signed delivery whose body is not a JSON object gets 400, not 500', async () => {
    for (const payload of [null, 7, 'text', [1]]) {
      const res = await deliver('push', payload);
      expect(res.status, JSON.stringify(payload)).toBe(400);
      expect(await res.json()).toMatchObject({ code: 'GANTRY_ERR_VALIDATION' });
    }
  });

  it('GANTRY_BUILD_REPOSITORIES unset: OIDC tokens register builds of repositories the App is installed on only', async () => {
    gh.notInstalled.add('mallory/app');
    const post = (repository: string, commit: string) =>
      fetch(`${control.url}/v1/builds`, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          authorization: `Bearer ${issuer.token({ repository, claims: { sha: commit } })}`,
        },
        body: JSON.stringify({
          repository,
          commit_sha: commit,
          image: `reg.example.com/x@sha256:${'e'.repeat(64)}`,
          digest: `sha256:${'e'.repeat(64)}`,
        }),
      });
    const refused = await post('mallory/app', sha('e5'));
    expect(refused.status).toBe(403);
    expect(await refused.json()).toMatchObject({ code: 'GANTRY_ERR_REPOSITORY_NOT_ALLOWED' });
    expect(gh.routes()).toContain('GET /repos/mallory/app/installation');
    expect((await post(REPOSITORY, sha('e6'))).status).toBe(201);
  });
});
