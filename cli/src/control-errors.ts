/**
 * Failures of the control client as the CLI shows them: control's own message (it already names
 * what was not found and what exists), what to do about a refused key, and an exit code that
 * follows the HTTP status (exit-codes.ts).
 */
import {
  ControlApiAnswerError,
  ControlApiError,
  ControlApiUnreachableError,
} from '../../contract/src/control-client.ts';
import { CliError, EXIT, exitForStatus } from './exit-codes.ts';

/** The CliError for a failure of a call to control; any other error passes through unchanged. */
export function cliErrorFrom(err: unknown, hadKey: boolean): unknown {
  if (err instanceof ControlApiError) {
    let message = err.message;
    if (err.body.allowed) message += ` Allowed: ${err.body.allowed.join(', ')}.`;
    if (err.status === 401) {
      message += hadKey
        ? ' The key was not accepted: check it, or run `gantry login`.'
        : ' No key was found: pass --key, set GANTRY_KEY or run `gantry login`.';
    }
    return new CliError(exitForStatus(err.status), message);
  }
  if (err instanceof ControlApiUnreachableError) {
    return new CliError(
      EXIT.FAILURE,
      `Cannot reach Gantry control at ${err.url} (${err.reason}). ` +
        'Is it running (`npm start`)? Point the CLI elsewhere with --url, GANTRY_URL or `gantry login`.',
    );
  }
  if (err instanceof ControlApiAnswerError) {
    return new CliError(EXIT.FAILURE, `${err.message}. Is the CLI's version the same as control's?`);
  }
  return err;
}
