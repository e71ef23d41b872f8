import { replaceEscapedNul } from '../json-nul.ts';

/** JSON for a jsonb column; a NUL (which jsonb cannot hold) becomes U+FFFD rather than an error. */
export const jsonb = (v: unknown): string | null =>
  v === undefined ? null : replaceEscapedNul(JSON.stringify(v));
