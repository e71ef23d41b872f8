/**
 * What `gantry` exits with, so scripts can tell failures apart. Documented in the README; never
 * renumbered.
 */
export const EXIT = {
  OK: 0,
  /** Something failed: the server, the network, a deploy that did not go live, a run whose app errored. */
  FAILURE: 1,
  /** The command line is wrong, or the server refused the input as invalid. */
  USAGE: 2,
  /** An app, environment, revision, runner, request, secret or key does not exist. */
  NOT_FOUND: 3,
  /** No key, an unknown key, or a key without the right (401, 403). */
  AUTH: 4,
  /** Refused as it stands: it exists already, it is active, it failed, it is protected (409). */
  REFUSED: 5,
} as const;

export type ExitCode = (typeof EXIT)[keyof typeof EXIT];

/** A failure meant for the user: its message is printed as is, then the process exits with code. */
export class CliError extends Error {
  constructor(
    readonly exitCode: ExitCode,
    message: string,
  ) {
    super(message);
    this.name = 'CliError';
  }
}

export const usageError = (message: string) => new CliError(EXIT.USAGE, message);

/** The exit code for an HTTP status from control. */
export function exitForStatus(status: number): ExitCode {
  if (status === 401 || status === 403) return EXIT.AUTH;
  if (status === 404) return EXIT.NOT_FOUND;
  if (status === 409) return EXIT.REFUSED;
  if (status >= 400 && status < 500) return EXIT.USAGE;
  return EXIT.FAILURE;
}
