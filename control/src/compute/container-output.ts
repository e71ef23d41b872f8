/**
 * The output of a runner's two containers, followed through the engine. The app's lines are kept
 * (the last few make a crash's record) and relayed to the runner beside it, so the runner ships and
 * attributes them exactly as for an app it started (contract/src/app-output-relay.ts): on the host's
 * network, posted to the runner's output intake on a port of its own (intake-relay.ts); on a named
 * network, which control cannot reach, written to the runner's stdin. The runner's own lines are
 * kept and handed to control, less its copies of the app's.
 */
import type { Duplex } from 'node:stream';
import { encodeAppOutput, INTAKE_ECHO_PREFIX } from '../../../contract/src/app-output-relay.ts';
import type { DockerEngine } from './docker-engine.ts';
import { IntakeRelay } from './intake-relay.ts';

export const TAIL_LINES = 30;

/** Where the app's output goes: the runner's intake or its stdin. */
export interface Relay {
  write(stream: 'stdout' | 'stderr', line: string): void;
  close(): void;
}

/** What following a runner's output reads and fills in. */
export interface Outputs {
  runnerId: string;
  appId: string | undefined;
  runnerCid: string | undefined;
  appTail: string[];
  runnerTail: string[];
  relay?: Relay;
}

function stdinRelay(socket: Duplex): Relay {
  return {
    write: (stream, line) => {
      if (socket.writable) socket.write(encodeAppOutput(stream, line));
    },
    close: () => socket.destroy(),
  };
}

/** The relay to a runner being created, before it starts (stdin must be attached first). */
export async function openRelay(
  engine: DockerEngine,
  runnerCid: string,
  outputPort: number | undefined,
): Promise<Relay> {
  return outputPort ? new IntakeRelay(outputPort) : stdinRelay(await engine.attachStdin(runnerCid));
}

/**
 * The relay to a runner an earlier control started: its intake again, or its stdin, which Docker
 * keeps open but podman closes when the earlier control's session ended (then nothing is relayed).
 */
export async function reopenRelay(
  engine: DockerEngine,
  runnerId: string,
  runnerCid: string,
  outputPort: number,
  log?: (msg: string, fields?: Record<string, unknown>) => void,
): Promise<Relay | undefined> {
  if (outputPort > 0) return new IntakeRelay(outputPort);
  const stdin = await engine.attachStdin(runnerCid).catch((err: Error) => {
    log?.("attaching to an adopted runner's stdin failed; its app's output is not relayed", {
      runner: runnerId,
      error: err.message,
    });
    return undefined;
  });
  // The earlier control may have died in the middle of a line: end it, so the runner drops
  // that fragment alone and reads the next line whole.
  stdin?.write('\n');
  return stdin ? stdinRelay(stdin) : undefined;
}

/** The last lines of an adopted runner's containers, as they were before this control. */
export async function tails(
  engine: DockerEngine,
  appId: string | undefined,
  runnerCid: string,
): Promise<{ appTail: string[]; runnerTail: string[] }> {
  const [appTail, runnerTail] = await Promise.all([
    appId ? engine.tail(appId, TAIL_LINES) : [],
    engine
      .tail(runnerCid, TAIL_LINES)
      .then((lines) => lines.filter((l) => !l.startsWith(INTAKE_ECHO_PREFIX))),
  ]);
  return { appTail, runnerTail };
}

/**
 * Follows both containers' output until their streams end (with their containers). With `sinceMs`
 * (an adopted runner), only their output from then on: what came before was relayed, and printed,
 * by the control that started them.
 */
export function followOutputs(
  engine: DockerEngine,
  t: Outputs,
  onLine: ((runnerId: string, line: string) => void) | undefined,
  sinceMs?: number,
): Promise<void> {
  const keep = (tail: string[], line: string) => {
    tail.push(line);
    if (tail.length > TAIL_LINES) tail.shift();
  };
  const app = t.appId
    ? engine
        .follow(
          t.appId,
          (stream, line) => {
            keep(t.appTail, line);
            t.relay?.write(stream, line);
          },
          sinceMs,
        )
        .catch(() => {})
    : Promise.resolve();
  const runner = t.runnerCid
    ? engine
        .follow(
          t.runnerCid,
          (_stream, line) => {
            // The runner's copies of the app's lines: the driver has them first-hand.
            if (line.startsWith(INTAKE_ECHO_PREFIX)) return;
            keep(t.runnerTail, line);
            onLine?.(t.runnerId, line);
          },
          sinceMs,
        )
        .catch(() => {})
    : Promise.resolve();
  return Promise.all([app, runner]).then(() => {});
}
