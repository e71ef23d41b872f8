/**
 * Verifies OIDC ID tokens (RS256 JWTs) such as the ones GitHub Actions issues with `id-token: write`.
 * The issuer's keys come from its discovery document's `jwks_uri` and are cached; a token signed
 * with a key id not in the cache refetches them once (issuers rotate keys), at most every few seconds
 * so a stream of forged key ids cannot make control hammer the issuer.
 */
import { createPublicKey, type JsonWebKey, type KeyObject, verify } from 'node:crypto';

export interface OidcVerifierOptions {
  issuer: string;
  audience: string;
  fetch?: typeof fetch;
  /** Epoch milliseconds. */
  clock?: () => number;
  /** Clock skew tolerated on `exp`, `nbf` and `iat`, in seconds. */
  leewaySeconds?: number;
}

/** The claims Gantry reads; GitHub's tokens carry more. */
export interface OidcClaims {
  iss: string;
  sub: string;
  aud: string | string[];
  exp: number;
  nbf?: number;
  iat?: number;
  repository?: string;
  ref?: string;
  sha?: string;
  [claim: string]: unknown;
}

/** Why a token was refused; the message is meant for the caller. */
export class OidcTokenError extends Error {
  override name = 'OidcTokenError';
}

/** Keys are refetched on an unknown `kid` at most this often. */
const REFETCH_INTERVAL_MS = 5_000;

const b64json = (part: string, what: string): Record<string, unknown> => {
  try {
    const v: unknown = JSON.parse(Buffer.from(part, 'base64url').toString('utf8'));
    if (typeof v === 'object' && v !== null && !Array.isArray(v)) return v as Record<string, unknown>;
  } catch {
    // fall through to the error below
  }
  throw new OidcTokenError(`the token's ${what} is not base64url JSON`);
};

export class OidcVerifier {
  private readonly issuer: string;
  private readonly audience: string;
  private readonly fetch: typeof fetch;
  private readonly clock: () => number;
  private readonly leeway: number;
  private keys = new Map<string, KeyObject>();
  private lastFetch = Number.NEGATIVE_INFINITY;
  private inflight: Promise<void> | undefined;

  constructor(o: OidcVerifierOptions) {
    this.issuer = o.issuer.replace(/\/+$/, '');
    this.audience = o.audience;
    this.fetch = o.fetch ?? globalThis.fetch;
    this.clock = o.clock ?? Date.now;
    this.leeway = o.leewaySeconds ?? 60;
  }

  /** True when the string has a JWT's shape (three base64url parts); keys do not. */
  static looksLikeJwt(s: string): boolean {
    return /^[\w-]+\.[\w-]+\.[\w-]+$/.test(s);
  }

  /** The token's claims once signature, issuer, audience and times check out; else OidcTokenError. */
  async verify(token: string): Promise<OidcClaims> {
    if (!OidcVerifier.looksLikeJwt(token)) throw new OidcTokenError('the token is not a JWT');
    const [h, p, s] = token.split('.') as [string, string, string];
    const header = b64json(h, 'header');
    if (header['alg'] !== 'RS256') {
      throw new OidcTokenError(`the token is signed with ${String(header['alg'])}; only RS256 is accepted`);
    }
    const kid = typeof header['kid'] === 'string' ? header['kid'] : '';
    const key = await this.key(kid);
    const ok = verify('RSA-SHA256', Buffer.from(`${h}.${p}`), key, Buffer.from(s, 'base64url'));
    if (!ok) throw new OidcTokenError('the token signature does not verify');

    const c = b64json(p, 'payload');
    if (c['iss'] !== this.issuer) {
      throw new OidcTokenError(`the token's issuer is ${String(c['iss'])}, expected ${this.issuer}`);
    }
    const aud = c['aud'];
    const auds = Array.isArray(aud) ? aud : [aud];
    if (!auds.includes(this.audience)) {
      throw new OidcTokenError(
        `the token's audience is ${JSON.stringify(aud)}, expected "${this.audience}" (the Action's audience input)`,
      );
    }
    const now = this.clock() / 1000;
    if (typeof c['exp'] !== 'number') throw new OidcTokenError('the token has no expiry (exp)');
    if (now > c['exp'] + this.leeway) {
      throw new OidcTokenError(`the token expired at ${new Date(c['exp'] * 1000).toISOString()}`);
    }
    if (typeof c['nbf'] === 'number' && now < c['nbf'] - this.leeway) {
      throw new OidcTokenError(`the token is not valid before ${new Date(c['nbf'] * 1000).toISOString()}`);
    }
    if (typeof c['iat'] === 'number' && now < c['iat'] - this.leeway) {
      throw new OidcTokenError('the token was issued in the future');
    }
    if (typeof c['sub'] !== 'string') throw new OidcTokenError('the token has no subject (sub)');
    return c as OidcClaims;
  }

  private async key(kid: string): Promise<KeyObject> {
    const cached = this.keys.get(kid);
    if (cached) return cached;
    if (this.clock() - this.lastFetch >= REFETCH_INTERVAL_MS || this.keys.size === 0) {
      this.inflight ??= this.fetchKeys().finally(() => {
        this.inflight = undefined;
      });
      await this.inflight;
    }
    const key = this.keys.get(kid);
    if (!key) throw new OidcTokenError(`the token's key id "${kid}" is not among ${this.issuer}'s keys`);
    return key;
  }

  private async fetchKeys(): Promise<void> {
    this.lastFetch = this.clock();
    const discovery = await this.getJson(`${this.issuer}/.well-known/openid-configuration`);
    const jwksUri = discovery['jwks_uri'];
    if (typeof jwksUri !== 'string') throw new Error(`${this.issuer}'s discovery document has no jwks_uri`);
    const jwks = await this.getJson(jwksUri);
    const keys = new Map<string, KeyObject>();
    for (const jwk of Array.isArray(jwks['keys']) ? (jwks['keys'] as JsonWebKey[]) : []) {
      if (jwk.kty !== 'RSA' || (jwk['use'] !== undefined && jwk['use'] !== 'sig')) continue;
      try {
        keys.set(
          typeof jwk['kid'] === 'string' ? jwk['kid'] : '',
          createPublicKey({ key: jwk, format: 'jwk' }),
        );
      } catch {
        // A malformed key in the set must not hide the good ones.
      }
    }
    this.keys = keys;
  }

  /** Failing to reach the issuer is control's problem, not the caller's: a plain Error (500). */
  private async getJson(url: string): Promise<Record<string, unknown>> {
    const res = await this.fetch(url, { signal: AbortSignal.timeout(10_000) });
    if (!res.ok) throw new Error(`GET ${url} answered ${res.status}`);
    return (await res.json()) as Record<string, unknown>;
  }
}
