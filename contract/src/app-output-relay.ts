/**
 * How a compute driver hands an app's output to the runner when the app runs in a container of its
 * own (the runner did not start it, so it cannot read its pipes). The runner then ships and
 * attributes those lines exactly as it does for an app it started. Two ways in:
 * - `stdin` (the container driver): one JSON line per output line on the runner's stdin,
 *   `["stdout"|"stderr", text]`;
 * - `http` (ECS): the task's FireLens log router (Fluent Bit's `http` output, `json_lines`) posts the
 *   app container's records to the runner on the task's localhost (RUNNER_ENV.appOutputPort), each
 *   `{"log": text, "source": "stdout"|"stderr", …}`.
 * RUNNER_ENV.appOutput names the way; unset, the runner reads the app it started.
 */

export type AppOutputStream = 'stdout' | 'stderr';

/**
 * What starts the runner's copy of a line that reached its intake, on its own stdout (for
 * CloudWatch on ECS); the container driver, which relayed the line itself, leaves those copies out
 * of the runner's record.
 */
export const INTAKE_ECHO_PREFIX = '[app] ';

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

/** The lines of one FireLens (Fluent Bit `http` output) body: JSON lines, or one JSON array. */
export function decodeFirelensRecords(body: string): { stream: AppOutputStream; line: string }[] {
  const out: { stream: AppOutputStream; line: string }[] = [];
  const take = (v: unknown) => {
    if (typeof v !== 'object' || v === null) return;
    const { log, source } = v as { log?: unknown; source?: unknown };
    if (typeof log !== 'string') return;
    out.push({ stream: source === 'stderr' ? 'stderr' : 'stdout', line: log.replace(/\r?\n$/, '') });
  };
  const trimmed = body.trim();
  if (trimmed.startsWith('[')) {
    try {
      const all: unknown = JSON.parse(trimmed);
      if (Array.isArray(all)) for (const v of all) take(v);
    } catch {
      // Not a record list: nothing to relay.
    }
    return out;
  }
  for (const text of trimmed.split('\n')) {
    try {
      take(JSON.parse(text));
    } catch {
      // A damaged record is dropped, never fatal.
    }
  }
  return out;
}
