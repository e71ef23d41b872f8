/**
 * PostgreSQL's text and jsonb cannot hold the NUL character. In JSON text a NUL is the escape
 * `\u0000`; these find it (not fooled by an escaped backslash before "u0000") so callers can refuse
 * it at the door or replace it before storing.
 */
const ESCAPED_NUL = /(?<!\\)((?:\\\\)*)\\u0000/gi;

export function hasEscapedNul(jsonText: string): boolean {
  ESCAPED_NUL.lastIndex = 0;
  return ESCAPED_NUL.test(jsonText);
}

/** Replaces each NUL in JSON text with U+FFFD, the replacement character. */
export function replaceEscapedNul(jsonText: string): string {
  return jsonText.replace(ESCAPED_NUL, '$1\\ufffd');
}
