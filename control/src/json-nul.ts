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

/**
 * jsonb refuses the other thing JSON can spell and UTF-8 cannot: a lone surrogate (half of an
 * emoji, as a truncated UTF-16 string leaves it), written `\udXXX` with no partner beside it.
 */
const LONE_SURROGATE =
  /(?<!\\)((?:\\\\)*)(?:\\ud[89ab][0-9a-f]{2}(?!\\ud[c-f][0-9a-f]{2})|(?<!\\ud[89ab][0-9a-f]{2})\\ud[c-f][0-9a-f]{2})/gi;

export function hasLoneSurrogate(jsonText: string): boolean {
  LONE_SURROGATE.lastIndex = 0;
  return LONE_SURROGATE.test(jsonText);
}

/** Replaces each NUL and each lone surrogate in JSON text with U+FFFD: text PostgreSQL can store. */
export function replaceUnstorable(jsonText: string): string {
  return replaceEscapedNul(jsonText).replace(LONE_SURROGATE, '$1\\ufffd');
}
