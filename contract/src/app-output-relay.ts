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

/** One line of the app's output from the log router, with when it was written (ms) when known. */
export interface FirelensLine {
  stream: AppOutputStream;
  line: string;
  at?: number;
}

/**
 * The lines of one FireLens (Fluent Bit `http` output) body: JSON lines, or one JSON array. Each
 * record's `date` (the output's default `json_date_key`, epoch seconds) is when the container wrote
 * the line: the router posts in batches, so the line's time, not its arrival, says which request
 * it belongs to.
 */
export function decodeFirelensRecords(body: string): FirelensLine[] {
  const out: FirelensLine[] = [];
  const take = (v: unknown) => {
    if (typeof v !== 'object' || v === null) return;
    const { log, source, date } = v as { log?: unknown; source?: unknown; date?: unknown };
    if (typeof log !== 'string') return;
    out.push({
      stream: source === 'stderr' ? 'stderr' : 'stdout',
      line: log.replace(/\r?\n$/, ''),
      ...(typeof date === 'number' && Number.isFinite(date) ? { at: Math.round(date * 1000) } : {}),
    });
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
