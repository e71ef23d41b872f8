/**
 * What the CLI prints: tables for people by default, JSON with --json. Data goes to stdout,
 * progress and notes to stderr, so `gantry … --json | jq` always gets clean JSON.
 */
export interface Output {
  json: boolean;
  /** A line of the result (stdout). */
  line(text?: string): void;
  /** A note or progress line for a person (stderr). */
  note(text: string): void;
  /** Prints value as JSON (stdout). */
  data(value: unknown): void;
  table(headers: string[], rows: (string | number | null | undefined)[][]): void;
}

export function createOutput(json: boolean, stdout = process.stdout, stderr = process.stderr): Output {
  return {
    json,
    line: (text = '') => void stdout.write(`${text}\n`),
    note: (text) => void stderr.write(`${text}\n`),
    data: (value) => void stdout.write(`${JSON.stringify(value, null, 2)}\n`),
    table: (headers, rows) => void stdout.write(renderTable(headers, rows)),
  };
}

/**
 * A table cell on one line: text with line breaks (a crash's output, a multi-line failure) would
 * start rows of its own and break the columns, so its lines are joined with ` ⏎ `.
 */
function cell(c: string | number | null | undefined): string {
  if (c === null || c === undefined) return '-';
  return String(c)
    .split(/\r?\n/)
    .map((l) => l.trim())
    .filter((l) => l !== '')
    .join(' ⏎ ');
}

/** Columns padded to their widest cell; the last column is not padded. */
export function renderTable(headers: string[], rows: (string | number | null | undefined)[][]): string {
  const cells = [headers, ...rows.map((r) => r.map(cell))];
  const widths = headers.map((_, i) => Math.max(...cells.map((r) => (r[i] ?? '').length)));
  return cells
    .map((r) =>
      r
        .map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]!)))
        .join('  ')
        .trimEnd(),
    )
    .map((l) => `${l}\n`)
    .join('');
}

/** "3m ago"-style ages for tables. */
export function ago(iso: string | null, now = Date.now()): string {
  if (!iso) return '-';
  const s = Math.max(0, Math.round((now - Date.parse(iso)) / 1000));
  if (s < 60) return `${s}s ago`;
  if (s < 3600) return `${Math.round(s / 60)}m ago`;
  if (s < 86_400) return `${Math.round(s / 3600)}h ago`;
  return `${Math.round(s / 86_400)}d ago`;
}
