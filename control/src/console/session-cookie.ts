/**
 * The console's session: the key the user signed in with, kept in an httpOnly, SameSite=Strict
 * cookie so page scripts never hold it. Calls that change something must also carry
 * `x-gantry-csrf`, a token derived from the key: another site can make the browser send the
 * cookie (SameSite aside) but cannot read the token, so it cannot act as the user.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyRequest } from 'fastify';
import { GantryError } from '../../../contract/src/errors.ts';

export const SESSION_COOKIE = 'gantry_session';
export const CSRF_HEADER = 'x-gantry-csrf';
/** Twelve hours: a working day, after which the console asks for the key again. */
const MAX_AGE_SECONDS = 12 * 3600;

const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

/** The value of one cookie in a Cookie header, or undefined. */
export function readCookie(header: string | undefined, name: string): string | undefined {
  if (!header) return undefined;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq < 0 || part.slice(0, eq).trim() !== name) continue;
    try {
      return decodeURIComponent(part.slice(eq + 1).trim()) || undefined;
    } catch {
      return undefined;
    }
  }
  return undefined;
}

export function csrfToken(key: string): string {
  return createHash('sha256').update(`gantry-console-csrf\n${key}`).digest('base64url');
}

/** The Set-Cookie value that signs the browser in; `Secure` whenever the console is served over https. */
export function sessionCookie(key: string, secure: boolean): string {
  return [
    `${SESSION_COOKIE}=${encodeURIComponent(key)}`,
    'Path=/',
    'HttpOnly',
    'SameSite=Strict',
    `Max-Age=${MAX_AGE_SECONDS}`,
    ...(secure ? ['Secure'] : []),
  ].join('; ');
}

export function clearedSessionCookie(secure: boolean): string {
  return [
    `${SESSION_COOKIE}=`,
    'Path=/',
    'HttpOnly',
    'SameSite=Strict',
    'Max-Age=0',
    ...(secure ? ['Secure'] : []),
  ].join('; ');
}

/** The key from the session cookie, when the request carries one. */
export function sessionKey(req: FastifyRequest): string | undefined {
  return readCookie(req.headers.cookie, SESSION_COOKIE);
}

/** A change made with the cookie needs the session's CSRF token; reads do not. */
export function checkCsrf(req: FastifyRequest, key: string): void {
  if (SAFE_METHODS.has(req.method)) return;
  const sent = req.headers[CSRF_HEADER];
  const want = Buffer.from(csrfToken(key));
  const got = Buffer.from(typeof sent === 'string' ? sent : '');
  if (got.length !== want.length || !timingSafeEqual(got, want)) throw new GantryError('GANTRY_ERR_CSRF');
}
