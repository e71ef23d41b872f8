/**
 * How deeply JSON text nests, found by scanning rather than parsing: a body nested thousands deep
 * parses, but overflows the stack of whatever walks it later (validation, storing), which is a 500.
 */

/** Whether arrays and objects in jsonText nest deeper than max. */
export function nestsDeeperThan(jsonText: string, max: number): boolean {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < jsonText.length; i++) {
    const c = jsonText.charCodeAt(i);
    if (inString) {
      if (c === 0x5c)
        i++; // a backslash escapes the next character
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) inString = true;
    else if (c === 0x5b || c === 0x7b) {
      if (++depth > max) return true;
    } else if (c === 0x5d || c === 0x7d) depth--;
  }
  return false;
}
