/**
 * Control's public face for whoever composes or tests it from outside (the process entry, test/,
 * bench/). Other components never import control: they meet it through contract/.
 */
export { buildApp, type ControlService } from './src/app.ts';
export { ensureAdminKey } from './src/auth.ts';
export type { ComputeDriver, RunnerSpec } from './src/compute/compute-driver.ts';
export { MACHINE_TYPES } from './src/compute/machine-types.ts';
export { loadConfig } from './src/config.ts';
export { StoreQueue } from './src/queue/store-queue.ts';
export { autoscale, type Observation } from './src/scaling/autoscaler.ts';
export { type Started, startServer } from './src/server.ts';
export { Store } from './src/store/store.ts';
export { verifyWebhook } from './src/webhooks/webhook-signer.ts';
