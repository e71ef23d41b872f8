/**
 * What a caller's JSON body must be, wherever it is parsed (control's routes, and fal's routes that
 * keep the bytes): one set of checks and messages.
 */
import { GantryError } from '../../contract/src/errors.ts';
import { nestsDeeperThan } from './json-depth.ts';
import { hasEscapedNul, hasLoneSurrogate } from './json-nul.ts';

/** Deeper than any real input needs; far shallower than what overflows the stack of validation or storing. */
export const MAX_JSON_DEPTH = 256;

/** Parses a caller's JSON text, or throws the catalogue's error for what is wrong with it. */
export function parseCallerJson(text: string): unknown {
  if (nestsDeeperThan(text, MAX_JSON_DEPTH)) {
    throw new GantryError(
      'GANTRY_ERR_JSON_TOO_DEEP',
      `The request body nests arrays and objects more than ${MAX_JSON_DEPTH} deep.`,
    );
  }
  if (hasEscapedNul(text) || hasLoneSurrogate(text)) {
    throw new GantryError(
      'GANTRY_ERR_BAD_JSON',
      'The request body contains a NUL character (\\u0000) or half of a surrogate pair (a lone \\udXXX), which Gantry cannot store.',
    );
  }
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new GantryError(
      'GANTRY_ERR_BAD_JSON',
      `The request body is not valid JSON: ${(err as Error).message}`,
    );
  }
}
