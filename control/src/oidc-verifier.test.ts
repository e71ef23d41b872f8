import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestIssuer, type TestIssuer } from '../../test/support/oidc-issuer.ts';
import { OidcTokenError, OidcVerifier } from './oidc-verifier.ts';

describe('OidcVerifier', () => {
  let issuer: TestIssuer;
  beforeAll(async () => {
    issuer = await startTestIssuer();
  });
  afterAll(async () => {
    await issuer.close();
  });

  const verifier = (o: { audience?: string; clock?: () => number } = {}) =>
    new OidcVerifier({
      issuer: issuer.url,
      audience: o.audience ?? 'gantry',
      ...(o.clock ? { clock: o.clock } : {}),
    });
  const refused = async (v: OidcVerifier, token: string) => {
    const err = await v.verify(token).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(OidcTokenError);
    return (err as Error).message;
  };

  it('accepts a token of the issuer and returns its claims', async () => {
    const claims = await verifier().verify(issuer.token({ repository: 'acme/app' }));
    expect(claims).toMatchObject({
      iss: issuer.url,
      repository: 'acme/app',
      sub: 'repo:acme/app:ref:refs/heads/main',
    });
  });

  it('refuses another audience, another issuer, a forged signature and alg none', async () => {
    const v = verifier();
    expect(await refused(v, issuer.token({ repository: 'a/b', audience: 'sts.amazonaws.com' }))).toMatch(
      /audience/,
    );
    expect(await refused(v, issuer.token({ repository: 'a/b', claims: { iss: 'https://evil' } }))).toMatch(
      /issuer/,
    );
    const [h, , s] = issuer.token({ repository: 'a/b' }).split('.');
    const forged = Buffer.from(
      JSON.stringify({ iss: issuer.url, aud: 'gantry', repository: 'x/y' }),
    ).toString('base64url');
    expect(await refused(v, `${h}.${forged}.${s}`)).toMatch(/signature/);
    const none = Buffer.from(JSON.stringify({ alg: 'none' })).toString('base64url');
    expect(await refused(v, `${none}.${forged}.x`)).toMatch(/RS256/);
    expect(await refused(v, 'gk_not_a_jwt')).toMatch(/not a JWT/);
  });

  it('checks exp and nbf with a minute of leeway', async () => {
    const now = Date.now();
    const exp = Math.floor(now / 1000) - 30;
    const t = issuer.token({ repository: 'a/b', claims: { exp } });
    await expect(verifier({ clock: () => now }).verify(t)).resolves.toBeDefined();
    expect(await refused(verifier({ clock: () => now + 60_000 }), t)).toMatch(/expired/);
    const early = issuer.token({ repository: 'a/b', claims: { nbf: Math.floor(now / 1000) + 600 } });
    expect(await refused(verifier({ clock: () => now }), early)).toMatch(/not valid before/);
  });

  it('caches the keys and refetches them when the issuer signs with a new one', async () => {
    let now = Date.now();
    const v = verifier({ clock: () => now });
    const before = issuer.jwksFetches();
    await v.verify(issuer.token({ repository: 'a/b' }));
    await v.verify(issuer.token({ repository: 'a/b' }));
    expect(issuer.jwksFetches() - before).toBe(1);
    issuer.rotateKey();
    now += 10_000;
    await expect(v.verify(issuer.token({ repository: 'a/b' }))).resolves.toBeDefined();
    expect(issuer.jwksFetches() - before).toBe(2);
  });
});
