import { replaceUnstorable } from '../json-nul.ts';

/**
 * JSON for a jsonb column; a NUL or a lone surrogate (which jsonb cannot hold) becomes U+FFFD rather
 * than an error: an app's output must not make its own result unstorable.
 */
export const jsonb = (v: unknown): string | null =>
  v === undefined ? null : replaceUnstorable(JSON.stringify(v));
