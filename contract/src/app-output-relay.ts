/**
 * How a compute driver hands an app's output to the runner when the app runs in a container of its
 * own (the runner did not start it, so it cannot read its pipes): one JSON line per output line on the
 * runner's stdin, `["stdout"|"stderr", text]`. The runner then ships and attributes those lines exactly
 * as it does for an app it started. Set RUNNER_ENV.appOutput to `stdin` to turn it on.
 */

export type AppOutputStream = 'stdout' | 'stderr';

export function encodeAppOutput(stream: AppOutputStream, line: string): string {
  return `${JSON.stringify([stream, line])}\n`;
}

/** One relayed line, or undefined for anything that is not one (ignored, never fatal). */
export function decodeAppOutput(text: string): { stream: AppOutputStream; line: string } | undefined {
  try {
    const v: unknown = JSON.parse(text);
    if (
      Array.isArray(v) &&
      v.length === 2 &&
      (v[0] === 'stdout' || v[0] === 'stderr') &&
      typeof v[1] === 'string'
    ) {
      return { stream: v[0], line: v[1] };
    }
  } catch {
    // Not a relayed line.
  }
  return undefined;
}
