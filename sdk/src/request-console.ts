/**
 * Makes `console.*` output written while an endpoint runs carry the request's log prefix, so the
 * runner attributes it to that request without the handler passing anything around.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import { format } from 'node:util';
import { prefixLines } from '../../contract/src/app-log-prefix.ts';

const currentRequest = new AsyncLocalStorage<string>();

const METHODS = ['log', 'info', 'warn', 'error', 'debug'] as const;
type ConsoleMethod = (typeof METHODS)[number];

let installs = 0;
let originals: Record<ConsoleMethod, (...args: unknown[]) => void> | undefined;

export function runInRequest<T>(requestId: string, fn: () => T): T {
  return currentRequest.run(requestId, fn);
}

/**
 * Patches the console while at least one app is listening; the returned function undoes it.
 * Counted, because tests run several apps in one process.
 */
export function installRequestConsole(): () => void {
  if (installs === 0) {
    const saved = {} as Record<ConsoleMethod, (...args: unknown[]) => void>;
    for (const method of METHODS) {
      const original = console[method].bind(console);
      saved[method] = original;
      console[method] = (...args: unknown[]) => {
        const requestId = currentRequest.getStore();
        if (requestId === undefined) original(...args);
        else original(prefixLines(requestId, format(...args)));
      };
    }
    originals = saved;
  }
  installs++;
  let undone = false;
  return () => {
    if (undone) return;
    undone = true;
    installs--;
    if (installs === 0 && originals) {
      for (const method of METHODS) console[method] = originals[method];
      originals = undefined;
    }
  };
}

/** `ctx.log`: like console.log, always attributed to `requestId`. */
export function requestLogger(requestId: string): (...args: unknown[]) => void {
  return (...args) => {
    process.stdout.write(`${prefixLines(requestId, format(...args))}\n`);
  };
}
