/**
 * The runner's own log: one line per event on stderr, `[runner <id>] <level> <message> key=value…`,
 * so it reads in a terminal and greps in CloudWatch. The app's output is not written here: it is
 * shipped to control (log-shipper.ts).
 */

export type LogFields = Record<string, string | number | boolean | undefined>;

export interface RunnerLog {
  info(message: string, fields?: LogFields): void;
  warn(message: string, fields?: LogFields): void;
  error(message: string, fields?: LogFields): void;
}

export function createRunnerLog(
  runnerId: string,
  write: (line: string) => void = (line) => process.stderr.write(line),
): RunnerLog {
  const emit = (level: string, message: string, fields: LogFields = {}) => {
    let line = `[runner ${runnerId}] ${new Date().toISOString()} ${level} ${oneLine(message)}`;
    for (const [key, value] of Object.entries(fields)) {
      if (value === undefined) continue;
      const text = String(value);
      line += ` ${key}=${/^[\w.:/@-]+$/.test(text) ? text : JSON.stringify(text)}`;
    }
    write(`${line}\n`);
  };
  return {
    info: (message, fields) => emit('info', message, fields),
    warn: (message, fields) => emit('warn', message, fields),
    error: (message, fields) => emit('error', message, fields),
  };
}

/** A log that drops everything, for tests and callers that do not care. */
export const silentLog: RunnerLog = { info() {}, warn() {}, error() {} };

function oneLine(text: string): string {
  return text.replace(/\s*\n\s*/g, ' | ');
}
