/**
 * Follows a server-sent event stream as it passes through and remembers the data of the last
 * complete event: on fal's queue path, a streaming request's result is its last event.
 * Parsing follows the SSE rules that matter for that: `data:` lines of one event are joined with
 * newlines, one space after the colon is dropped, a blank line ends the event, and any of
 * CRLF, LF or CR ends a line. Events without data are not events.
 */
export class LastEventTracker {
  private readonly decoder = new TextDecoder('utf-8');
  private pending = '';
  private lines: string[] = [];
  private last: string | undefined;
  /** A CR ended the previous chunk: an LF at the start of this one belongs to it. */
  private afterCr = false;

  push(chunk: Uint8Array): void {
    let text = this.decoder.decode(chunk, { stream: true });
    if (this.afterCr && text.startsWith('\n')) text = text.slice(1);
    this.afterCr = text.endsWith('\r');
    const parts = (this.pending + text).split(/\r\n|\r|\n/);
    this.pending = parts.pop() ?? '';
    for (const line of parts) this.line(line);
  }

  /** The last complete event's data, or undefined when no event has ended yet. */
  data(): string | undefined {
    return this.last;
  }

  private line(line: string): void {
    if (line === '') {
      const data = this.lines;
      this.lines = [];
      if (data.length > 0) this.last = data.join('\n');
      return;
    }
    if (line.startsWith(':')) return;
    const colon = line.indexOf(':');
    const field = colon < 0 ? line : line.slice(0, colon);
    if (field !== 'data') return;
    let value = colon < 0 ? '' : line.slice(colon + 1);
    if (value.startsWith(' ')) value = value.slice(1);
    this.lines.push(value);
  }
}
