/**
 * Gives runners direct access to their environment's queues when the queue driver offers it (SQS):
 * a ComputeDriver decorator that adds the queue URLs and the lease to every runner's settings, so
 * neither the scaler nor the compute drivers need to know which queue is in use.
 */

import { RUNNER_ENV } from '../../../contract/src/runner-protocol.ts';
import type { ComputeDriver } from '../compute/compute-driver.ts';
import type { QueueDriver } from './queue-driver.ts';

export function withQueueAccess(
  compute: ComputeDriver,
  queue: QueueDriver,
  leaseSeconds: number,
): ComputeDriver {
  const access = queue.runnerAccess?.bind(queue);
  if (!access || compute.directQueueAccess === false) return compute;
  // Everything else the driver is and offers passes through (ECS's reclaim, progress, flags).
  return {
    get boundsProvisioning() {
      return compute.boundsProvisioning;
    },
    get secretsByReference() {
      return compute.secretsByReference;
    },
    get directQueueAccess() {
      return compute.directQueueAccess;
    },
    ...(compute.onProgress ? { onProgress: compute.onProgress.bind(compute) } : {}),
    ...(compute.reclaim ? { reclaim: compute.reclaim.bind(compute) } : {}),
    ...(compute.room ? { room: compute.room.bind(compute) } : {}),
    async start(spec) {
      const runnerEnv = {
        ...spec.runnerEnv,
        ...(await access(spec.environmentId)),
        [RUNNER_ENV.leaseS]: String(leaseSeconds),
      };
      await compute.start({ ...spec, runnerEnv });
    },
    stop: (runnerId) => compute.stop(runnerId),
    kill: (runnerId) => compute.kill(runnerId),
    onExit: (listener) => compute.onExit(listener),
    close: (graceMs) => compute.close(graceMs),
    ...(compute.release ? { release: () => compute.release!() } : {}),
    ...(compute.reclaim ? { reclaim: (isClaimed) => compute.reclaim!(isClaimed) } : {}),
  };
}
