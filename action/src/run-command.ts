/**
 * Runs a tool with its output streamed to the job log as it happens (a build can take many minutes;
 * the log must show progress, not a wall of text at the end) while each line is also handed to the
 * caller, who reads cache use from it.
 */
import { spawn } from 'node:child_process';

export interface CommandResult {
  code: number;
  /** The last lines of output, for an error message. */
  tail: string[];
}

export interface RunOptions {
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  onLine?: (line: string) => void;
  /** Where the output goes; the job log (stdout) by default. */
  write?: (chunk: string) => void;
}

const TAIL = 20;

export function runCommand(cmd: string, args: string[], o: RunOptions = {}): Promise<CommandResult> {
  const write = o.write ?? ((chunk: string) => process.stdout.write(chunk));
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, {
      env: o.env ?? process.env,
      cwd: o.cwd,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const tail: string[] = [];
    const pending = { out: '', err: '' };
    const take = (which: 'out' | 'err', chunk: Buffer) => {
      const text = chunk.toString('utf8');
      write(text);
      const lines = (pending[which] + text).split(/\r?\n|\r/);
      pending[which] = lines.pop() ?? '';
      for (const line of lines) {
        tail.push(line);
        if (tail.length > TAIL) tail.shift();
        o.onLine?.(line);
      }
    };
    child.stdout.on('data', (c: Buffer) => take('out', c));
    child.stderr.on('data', (c: Buffer) => take('err', c));
    child.on('error', (err: NodeJS.ErrnoException) => {
      reject(err.code === 'ENOENT' ? new Error(`${cmd} is not installed on this runner`) : err);
    });
    child.on('close', (code, signal) => {
      for (const rest of [pending.out, pending.err]) {
        if (rest === '') continue;
        tail.push(rest);
        o.onLine?.(rest);
      }
      resolve({ code: code ?? (signal ? 128 : 1), tail: tail.slice(-TAIL) });
    });
  });
}

/** True when the command runs and exits 0 (used to probe for tools). */
export async function commandWorks(cmd: string, args: string[], env?: NodeJS.ProcessEnv): Promise<boolean> {
  try {
    return (await runCommand(cmd, args, { write: () => {}, ...(env ? { env } : {}) })).code === 0;
  } catch {
    return false;
  }
}
