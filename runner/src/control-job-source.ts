/** JobSource over control's runner protocol: control hands out jobs and holds their leases. */
import { isRetryableControlError, type RunnerClient } from '../../contract/src/runner-client.ts';
import type { JobSource } from './job-source.ts';

export function controlJobSource(client: RunnerClient, pullWaitMs: number): JobSource {
  return {
    pull: (max, signal) => client.pull({ max, wait_ms: pullWaitMs }, { signal }),
    extend: (receipts, inFlight) => client.heartbeat({ receipts, in_flight: inFlight }),
    async complete(result) {
      await client.reportResult(result);
    },
    isRetryable: isRetryableControlError,
  };
}
