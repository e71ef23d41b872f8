/**
 * Control's own signed URLs for files: a capability in the query string, so fal's client can PUT
 * an upload and anyone holding a result can GET its file without an auth header, as with fal's
 * CDN. HMAC-SHA256 over what the URL grants (operation, key, expiry, extra fields); the secret
 * lives in the data folder or a setting, so URLs survive a restart of control.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';

/** `u` single upload, `m` multipart upload, `f` read a file, `o` an app's output uploads. */
export type SignedOp = 'u' | 'm' | 'f' | 'o';

export interface SignedFields {
  op: SignedOp;
  /** The file key (u, m, f) or the scope outputs go to (o). */
  subject: string;
  /** Epoch seconds after which the URL no longer works. */
  exp: number;
  /** Further fields the URL binds (content type, upload id, retention), by name. */
  extra?: Record<string, string>;
}

export type Verdict = 'ok' | 'expired' | 'invalid';

export class UrlSigner {
  constructor(private readonly secret: Buffer) {
    if (secret.length < 32) throw new Error('the files signing secret must be at least 32 bytes');
  }

  sign(f: SignedFields): string {
    return createHmac('sha256', this.secret).update(canonical(f)).digest('base64url');
  }

  /**
   * Checks a signature first and the expiry second: a tampered URL is `invalid` whatever its
   * expiry says, so only a genuine URL can learn that it ran out.
   */
  verify(f: SignedFields, sig: string | undefined, nowMs: number): Verdict {
    if (!this.matches(f, sig)) return 'invalid';
    return f.exp * 1000 <= nowMs ? 'expired' : 'ok';
  }

  /** Whether `sig` is this signer's signature of exactly these fields (expiry not judged). */
  matches(f: SignedFields, sig: string | undefined): boolean {
    if (!sig || !Number.isSafeInteger(f.exp) || f.subject.includes('\n')) return false;
    const want = Buffer.from(this.sign(f));
    const got = Buffer.from(sig);
    return want.length === got.length && timingSafeEqual(want, got);
  }
}

function canonical(f: SignedFields): string {
  const extra = Object.entries(f.extra ?? {})
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([k, v]) => `${k}=${v}`);
  // Newlines cannot occur in keys (safeFileName) nor in the other fields, so fields cannot run together.
  return [f.op, f.subject, String(f.exp), ...extra].join('\n');
}

/** A key as a URL path: each segment escaped, slashes kept. */
export function keyToPath(key: string): string {
  return key.split('/').map(encodeURIComponent).join('/');
}

/** The key named by a URL path tail; undefined when an escape is malformed. */
export function pathToKey(tail: string): string | undefined {
  try {
    return tail.split('/').map(decodeURIComponent).join('/');
  } catch {
    return undefined;
  }
}
