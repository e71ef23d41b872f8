/**
 * A test OIDC issuer on loopback, shaped like GitHub Actions' token service: it serves the discovery
 * document and JWKS control verifies against, signs RS256 tokens with chosen claims, and answers the
 * token request `@actions/core`'s getIDToken makes (ACTIONS_ID_TOKEN_REQUEST_URL/_TOKEN).
 */
import { generateKeyPairSync, randomBytes, sign } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface TestIssuer {
  /** The issuer URL (`iss`), also the base of the discovery document. */
  url: string;
  /** A signed token: GitHub-like claims for `repository`, overridden by `claims`. */
  token(opts: { repository: string; audience?: string; claims?: Record<string, unknown> }): string;
  /** Environment for @actions/core's getIDToken: tokens for `repository`. */
  actionsEnv(repository: string): Record<string, string>;
  /** Starts signing with a new key (published alongside the old one), as an issuer rotating keys does. */
  rotateKey(): void;
  /** How many times the JWKS was fetched. */
  jwksFetches(): number;
  close(): Promise<void>;
}

const b64 = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url');

export async function startTestIssuer(): Promise<TestIssuer> {
  const keys: {
    kid: string;
    privateKey: ReturnType<typeof generateKeyPairSync>['privateKey'];
    jwk: object;
  }[] = [];
  const addKey = () => {
    const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const kid = randomBytes(8).toString('hex');
    keys.push({
      kid,
      privateKey,
      jwk: { ...publicKey.export({ format: 'jwk' }), kid, use: 'sig', alg: 'RS256' },
    });
  };
  addKey();
  let fetches = 0;
  const requestToken = randomBytes(12).toString('hex');
  let url = '';

  const token: TestIssuer['token'] = ({ repository, audience = 'gantry', claims = {} }) => {
    const key = keys[keys.length - 1]!;
    const now = Math.floor(Date.now() / 1000);
    const payload = {
      iss: url,
      aud: audience,
      sub: `repo:${repository}:ref:refs/heads/main`,
      repository,
      ref: 'refs/heads/main',
      iat: now,
      nbf: now - 5,
      exp: now + 300,
      ...claims,
    };
    const input = `${b64({ alg: 'RS256', typ: 'JWT', kid: key.kid })}.${b64(payload)}`;
    return `${input}.${sign('RSA-SHA256', Buffer.from(input), key.privateKey).toString('base64url')}`;
  };

  // The repository a token request is for travels in the request path, so one issuer serves many.
  const server: Server = createServer((req, res) => {
    const u = new URL(req.url ?? '/', url);
    const json = (status: number, body: unknown) => {
      res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
    };
    if (u.pathname === '/.well-known/openid-configuration') {
      return json(200, { issuer: url, jwks_uri: `${url}/.well-known/jwks` });
    }
    if (u.pathname === '/.well-known/jwks') {
      fetches++;
      return json(200, { keys: keys.map((k) => k.jwk) });
    }
    const m = /^\/token\/(.+)$/.exec(u.pathname);
    if (m) {
      if (req.headers.authorization !== `Bearer ${requestToken}`) return json(401, { message: 'bad token' });
      const audience = u.searchParams.get('audience') ?? undefined;
      return json(200, {
        value: token({ repository: decodeURIComponent(m[1]!), ...(audience ? { audience } : {}) }),
      });
    }
    json(404, { message: 'not found' });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  return {
    url,
    token,
    actionsEnv: (repository) => ({
      ACTIONS_ID_TOKEN_REQUEST_URL: `${url}/token/${encodeURIComponent(repository)}?api-version=2.0`,
      ACTIONS_ID_TOKEN_REQUEST_TOKEN: requestToken,
    }),
    rotateKey: addKey,
    jwksFetches: () => fetches,
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}
