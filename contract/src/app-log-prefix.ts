/**
 * The app contract's log attribution: a line an app prints that starts with `[gantry:req=<id>] `
 * belongs to that request. The SDK writes the prefix; the runner strips it. Apps in other
 * languages print the same prefix to have their lines attributed.
 */

const PREFIX = /^\[gantry:req=([^\]\s]+)\] /;

export function requestLogPrefix(requestId: string): string {
  return `[gantry:req=${requestId}] `;
}

/** Prefixes every line of `text`, so multi-line messages stay attributed line by line. */
export function prefixLines(requestId: string, text: string): string {
  const prefix = requestLogPrefix(requestId);
  return text
    .split('\n')
    .map((line) => prefix + line)
    .join('\n');
}

/** Splits a printed line into its request id (when prefixed) and the message without the prefix. */
export function parseRequestLogPrefix(line: string): { requestId: string | undefined; message: string } {
  const match = PREFIX.exec(line);
  if (!match) return { requestId: undefined, message: line };
  return { requestId: match[1], message: line.slice(match[0].length) };
}
