/**
 * The process driver through the compute contract, for real: each runner is a child process
 * running runner/src/main.ts, which starts the app below as its own child.
 */
import type { Revision } from '../domain.ts';
import { computeContract } from './compute.contract.ts';
import { ProcessCompute } from './process-compute.ts';

/**
 * An app that answers health checks and, since a crashed runner cannot stop it, exits by itself
 * once the runner that started it is gone (its own process group outlives the runner otherwise).
 */
const APP = `
  const parent = process.ppid;
  require('node:http').createServer((q, s) => s.end('ok')).listen(Number(process.env.PORT), '127.0.0.1');
  setInterval(() => { try { process.kill(parent, 0) } catch { process.exit(0) } }, 200);
`;

const revision = (number: number, command: string[] | null): Revision => ({
  id: `rev-${number}`,
  environment_id: 'env-contract',
  number,
  image: null,
  command,
  cwd: null,
  settings: { max_multiplexing: 1, startup_timeout: 60, machine_type: ['CPU'] },
  commit_sha: null,
  message: null,
  annotations: {},
  created_by: null,
  created_at: 0,
});

computeContract('local processes', async () => {
  const compute = new ProcessCompute({ drainGraceSeconds: 2 });
  return {
    compute,
    runnable: revision(3, [process.execPath, '-e', APP]),
    unrunnable: revision(7, null),
    isRunning: async (runnerId) => {
      const pid = compute.pid(runnerId);
      if (pid === undefined) return false;
      try {
        process.kill(pid, 0);
        return true;
      } catch {
        return false;
      }
    },
    crash: async (runnerId) => {
      const pid = compute.pid(runnerId);
      if (pid !== undefined) process.kill(pid, 'SIGKILL');
    },
    close: () => compute.close(5_000),
  };
});
