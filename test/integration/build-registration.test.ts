/**
 * Registering builds with a real control service, authenticated by tokens of a test OIDC issuer
 * whose discovery document and JWKS are served on loopback (control is configured with its URL).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ControlExtension } from '../../contract/src/extension.ts';
import { startTestControl, type TestControl } from '../support/control.ts';
import { startTestIssuer, type TestIssuer } from '../support/oidc-issuer.ts';

describe('POST /v1/builds', () => {
  let issuer: TestIssuer;
  let control: TestControl;
  beforeAll(async () => {
    issuer = await startTestIssuer();
    control = await startTestControl({
      env: { GANTRY_OIDC_ISSUER: issuer.url, GANTRY_OIDC_AUDIENCE: 'gantry' },
    });
  });
  afterAll(async () => {
    await control?.close();
    await issuer?.close();
  });

  let n = 0;
  const build = (repository = 'acme/app') => {
    n++;
    const hex = n.toString(16).padStart(2, '0');
    return {
      repository,
      commit_sha: hex.repeat(20),
      ref: 'refs/heads/main',
      image: `reg.example.com/acme/app@sha256:${hex.repeat(32)}`,
      digest: `sha256:${hex.repeat(32)}`,
      content_hash: 'c'.repeat(64),
    };
  };
  const post = (body: unknown, authorization?: string) =>
    fetch(`${control.url}/v1/builds`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...(authorization ? { authorization } : {}) },
      body: JSON.stringify(body),
    });
  const bearer = (o: Parameters<TestIssuer['token']>[0]) => `Bearer ${issuer.token(o)}`;
  const listed = async (repository: string, commit: string) =>
    (
      (await (await control.admin(`/v1/builds?repository=${repository}&commit=${commit}`)).json()) as {
        builds: unknown[];
      }
    ).builds;

  it('accepts a token of the build repository; control then holds the build', async () => {
    const b = build();
    const res = await post(b, bearer({ repository: 'acme/app' }));
    expect(res.status).toBe(201);
    const body = (await res.json()) as Record<string, unknown>;
    expect(body).toMatchObject({ ...b, registered_by: 'oidc:repo:acme/app:ref:refs/heads/main' });
    expect(await listed('acme/app', b.commit_sha)).toEqual([body]);
    // Registering again (a re-run workflow) answers the same build.
    const again = await post(b, bearer({ repository: 'acme/app' }));
    expect(again.status).toBe(200);
    expect(await again.json()).toEqual(body);
  });

  it('refuses a token of another commit, and an image not named by its digest', async () => {
    const b = build();
    const other = await post(b, bearer({ repository: 'acme/app', claims: { sha: 'f'.repeat(40) } }));
    expect(other.status).toBe(403);
    expect(await other.json()).toMatchObject({
      code: 'GANTRY_ERR_REPOSITORY_MISMATCH',
      message: expect.stringMatching(/only register builds of the commit it runs on/),
    });
    const same = await post(b, bearer({ repository: 'acme/app', claims: { sha: b.commit_sha } }));
    expect(same.status).toBe(201);

    const tagged = build();
    const res = await post(
      { ...tagged, image: 'reg.example.com/acme/app:latest' },
      bearer({ repository: 'acme/app' }),
    );
    expect(res.status).toBe(400);
    expect(await res.json()).toMatchObject({
      code: 'GANTRY_ERR_VALIDATION',
      message: expect.stringMatching(/by its digest/),
    });
    expect(await listed('acme/app', tagged.commit_sha)).toEqual([]);
  });

  it('refuses a token of another repository with 403', async () => {
    const b = build('acme/app');
    const res = await post(b, bearer({ repository: 'mallory/fork' }));
    expect(res.status).toBe(403);
    expect(await res.json()).toMatchObject({ code: 'GANTRY_ERR_REPOSITORY_MISMATCH' });
    expect(await listed('acme/app', b.commit_sha)).toEqual([]);
  });

  it('refuses an expired token, one for another audience and one from another issuer with 401', async () => {
    const past = Math.floor(Date.now() / 1000) - 3600;
    for (const [authorization, why] of [
      [
        bearer({ repository: 'acme/app', claims: { exp: past, iat: past - 300, nbf: past - 300 } }),
        /expired/,
      ],
      [bearer({ repository: 'acme/app', audience: 'sts.amazonaws.com' }), /audience/],
      [
        bearer({ repository: 'acme/app', claims: { iss: 'https://token.actions.githubusercontent.com' } }),
        /issuer/,
      ],
    ] as const) {
      const res = await post(build(), authorization);
      expect(res.status).toBe(401);
      const body = (await res.json()) as { code: string; message: string };
      expect(body.code).toBe('GANTRY_ERR_INVALID_TOKEN');
      expect(body.message).toMatch(why);
    }
  });

  it('refuses a request without a token, or with an unknown key, with 401', async () => {
    const none = await post(build());
    expect(none.status).toBe(401);
    expect(((await none.json()) as { message: string }).message).toMatch(/id-token: write/);
    expect((await post(build(), 'Key gk_nobody')).status).toBe(401);
    expect((await fetch(`${control.url}/v1/builds?repository=acme/app`)).status).toBe(401);
  });

  it('accepts a deploy token (a management key) for any repository', async () => {
    const b = build('someone/else');
    const res = await post(b, `Key ${control.adminKey}`);
    expect(res.status).toBe(201);
    expect(await res.json()).toMatchObject({ repository: 'someone/else', registered_by: 'key:admin' });
  });

  it('validates the build', async () => {
    const res = await post({ ...build(), digest: 'md5:x' }, `Key ${control.adminKey}`);
    expect(res.status).toBe(400);
    expect(await res.json()).toMatchObject({ code: 'GANTRY_ERR_VALIDATION' });
  });
});

describe('POST /v1/builds with GANTRY_BUILD_REPOSITORIES', () => {
  let issuer: TestIssuer;
  let control: TestControl;
  beforeAll(async () => {
    issuer = await startTestIssuer();
    control = await startTestControl({
      env: {
        GANTRY_OIDC_ISSUER: issuer.url,
        GANTRY_OIDC_AUDIENCE: 'gantry',
        GANTRY_BUILD_REPOSITORIES: 'acme, other/models',
      },
    });
  });
  afterAll(async () => {
    await control?.close();
    await issuer?.close();
  });

  const build = (repository: string, n: number) => {
    const hex = n.toString(16).padStart(2, '0');
    return {
      repository,
      commit_sha: hex.repeat(20),
      image: `reg.example.com/x@sha256:${hex.repeat(32)}`,
      digest: `sha256:${hex.repeat(32)}`,
    };
  };
  const post = (body: unknown, repository: string) =>
    fetch(`${control.url}/v1/builds`, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        authorization: `Bearer ${issuer.token({ repository })}`,
      },
      body: JSON.stringify(body),
    });

  it('takes tokens of the listed owners and repositories only, and refuses the rest with a stable code', async () => {
    expect((await post(build('acme/anything', 1), 'acme/anything')).status).toBe(201);
    expect((await post(build('other/models', 2), 'other/models')).status).toBe(201);
    for (const [repo, n] of [
      ['other/elsewhere', 3],
      ['mallory/app', 4],
    ] as const) {
      const res = await post(build(repo, n), repo);
      expect(res.status).toBe(403);
      const body = (await res.json()) as { code: string; message: string };
      expect(body.code).toBe('GANTRY_ERR_REPOSITORY_NOT_ALLOWED');
      expect(body.message).toContain('GANTRY_BUILD_REPOSITORIES');
    }
    const held = (await (await control.admin('/v1/builds?repository=mallory/app')).json()) as {
      builds: unknown[];
    };
    expect(held.builds).toEqual([]);
  });

  it('still takes a deploy key for any repository', async () => {
    const res = await fetch(`${control.url}/v1/builds`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Key ${control.adminKey}` },
      body: JSON.stringify(build('mallory/app', 5)),
    });
    expect(res.status).toBe(201);
  });
});

describe('POST /v1/builds with GANTRY_BUILD_REPOSITORIES unset and the GitHub App configured', () => {
  let issuer: TestIssuer;
  let control: TestControl;
  let controlStar: TestControl;
  let githubDown = false;
  const asked: string[] = [];
  // The GitHub App through control's extension port: installed on acme/app only.
  const app: ControlExtension = {
    name: 'github-app-standin',
    prefix: '/api/standin',
    async mount() {
      return {
        async mayRegisterBuilds(repository) {
          asked.push(repository);
          if (githubDown) throw new Error('GitHub answered 502');
          return repository === 'acme/app';
        },
      };
    },
  };
  beforeAll(async () => {
    issuer = await startTestIssuer();
    const env = { GANTRY_OIDC_ISSUER: issuer.url, GANTRY_OIDC_AUDIENCE: 'gantry' };
    control = await startTestControl({ env, extensions: [app] });
    controlStar = await startTestControl({
      env: { ...env, GANTRY_BUILD_REPOSITORIES: '*' },
      extensions: [app],
    });
  });
  afterAll(async () => {
    await control?.close();
    await controlStar?.close();
    await issuer?.close();
  });

  const build = (repository: string, n: number) => {
    const hex = n.toString(16).padStart(2, '0');
    return {
      repository,
      commit_sha: hex.repeat(20),
      image: `reg.example.com/x@sha256:${hex.repeat(32)}`,
      digest: `sha256:${hex.repeat(32)}`,
    };
  };
  const post = (c: TestControl, body: { repository: string }) =>
    fetch(`${c.url}/v1/builds`, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        authorization: `Bearer ${issuer.token({ repository: body.repository })}`,
      },
      body: JSON.stringify(body),
    });

  it('takes OIDC tokens of repositories the App is installed on only', async () => {
    expect((await post(control, build('acme/app', 1))).status).toBe(201);
    const res = await post(control, build('mallory/app', 2));
    expect(res.status).toBe(403);
    const body = (await res.json()) as { code: string; message: string };
    expect(body.code).toBe('GANTRY_ERR_REPOSITORY_NOT_ALLOWED');
    expect(body.message).toMatch(/GitHub App is not installed on it/);
    expect(asked).toEqual(['acme/app', 'mallory/app']);
  });

  it('GitHub unreachable: a 503 with a stable code, nothing registered', async () => {
    githubDown = true;
    try {
      const res = await post(control, build('acme/app', 3));
      expect(res.status).toBe(503);
      expect(await res.json()).toMatchObject({ code: 'GANTRY_ERR_GITHUB_UNAVAILABLE' });
    } finally {
      githubDown = false;
    }
  });

  it('GANTRY_BUILD_REPOSITORIES=* overrides the default: any repository, the App not asked', async () => {
    const before = asked.length;
    expect((await post(controlStar, build('mallory/app', 4))).status).toBe(201);
    expect(asked.length).toBe(before);
  });
});
