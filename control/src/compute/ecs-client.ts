/**
 * The ECS client control builds, and with it the one retry policy for ECS calls: the SDK's own
 * standard retry strategy (exponential backoff with full jitter, a shared retry budget, Retry-After
 * honoured). It retries throttling (a client fault under a throttling name, or 429) and transient
 * failures (500/502/503/504 server faults, timeouts, reset connections); every other client fault
 * surfaces after one attempt, with the SDK's `name` and `$fault`, for the driver to map.
 *
 * The ECS driver therefore calls `send` once and never retries on its own (compute-driver.ts: drivers
 * decide no policy). RunTask is safe to retry: the driver gives each runner a `clientToken`.
 */
import { ECSClient, type ECSClientConfig } from '@aws-sdk/client-ecs';

/** Attempts in all, the first included: a throttled burst of starts gets three more tries. */
export const ECS_MAX_ATTEMPTS = 4;

export function createEcsClient(overrides: ECSClientConfig = {}): ECSClient {
  return new ECSClient({ maxAttempts: ECS_MAX_ATTEMPTS, retryMode: 'standard', ...overrides });
}
