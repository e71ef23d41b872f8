/**
 * A spinner on stderr while something waits. Only on a terminal: elsewhere (CI logs, tests) it
 * prints each new status once, as a plain line, and nothing at all with --json.
 */
const FRAMES = ['⠋', '⠙', '⠹', '⠸', '⠼', '⠴', '⠦', '⠧', '⠇', '⠏'];

export interface Progress {
  update(text: string): void;
  /** Clears the spinner; prints a final line when given. */
  done(text?: string): void;
}

export function createProgress(opts: { quiet: boolean; stream?: NodeJS.WriteStream }): Progress {
  const stream = opts.stream ?? process.stderr;
  let text = '';
  if (opts.quiet) return { update: () => {}, done: () => {} };
  if (!stream.isTTY) {
    return {
      update: (t) => {
        if (t !== text) stream.write(`${t}\n`);
        text = t;
      },
      done: (t) => {
        if (t) stream.write(`${t}\n`);
      },
    };
  }
  let frame = 0;
  const draw = () => stream.write(`\r\x1b[2K${FRAMES[frame++ % FRAMES.length]} ${text}`);
  const timer = setInterval(draw, 80);
  timer.unref();
  return {
    update: (t) => {
      text = t;
      draw();
    },
    done: (t) => {
      clearInterval(timer);
      stream.write('\r\x1b[2K');
      if (t) stream.write(`${t}\n`);
    },
  };
}
