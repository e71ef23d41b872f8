/**
 * Where runners run. The autoscaler decides; a compute driver carries it out: start a runner for a
 * revision, ask one to drain (SIGTERM, or ECS StopTask), kill one, and report when one has ended.
 * Drivers never decide policy (no retries of their own beyond a single call's transient errors).
 */
import type { Revision } from '../domain.ts';
import type { SecretReferences } from '../secrets/environment-secrets.ts';

export interface RunnerSpec {
  runnerId: string;
  /** Bearer token the runner presents to control; only its hash is stored. */
  token: string;
  controlUrl: string;
  environmentId: string;
  /** Whose runner this is, for names drivers derive per app (ECS: the app's task role). */
  app?: { owner: string; name: string; environment: string };
  revision: Revision;
  /** Extra environment for the app (its secrets), for drivers that take values. */
  env: Record<string, string>;
  /**
   * For drivers that take secrets by reference (`secretsByReference`), in place of values in `env`:
   * the app's secrets as name → valueFrom, and the key that opens the runner's sealed token.
   */
  secrets?: SecretReferences;
  /**
   * Settings for the runner itself (e.g. the SQS queue URLs it polls), kept apart from the app's
   * environment so each container gets only its own.
   */
  runnerEnv?: Record<string, string>;
  /**
   * How long the runner lets its requests finish once told to drain (the environment's
   * termination_grace_period_seconds when it started); the driver's own default otherwise.
   */
  drainGraceSeconds?: number;
}

export interface RunnerExit {
  runnerId: string;
  /** Exit code of the runner (null when killed by a signal). */
  code: number | null;
  signal: string | null;
  /** The last lines the runner printed, for the record when it failed. */
  tail: string[];
  /** It never ran because the cloud found no capacity for it (e.g. ECS gave up waiting for an instance). */
  schedulingFailure?: boolean;
}

/**
 * The cloud had no capacity for the runner (no GPU instance, no memory, no capacity provider could
 * place it). Not the app's fault: the scaler retries every 20 s instead of backing off, and the
 * runner is recorded with fal's error type `runner_scheduling_failure`.
 */
export class RunnerSchedulingError extends Error {
  override readonly name = 'RunnerSchedulingError';
  readonly errorType = 'runner_scheduling_failure';
}

export const isSchedulingFailure = (err: unknown): boolean =>
  err instanceof Error && err.name === 'RunnerSchedulingError';

/** A step of a runner's start that only the infrastructure sees (the image pull on ECS). */
export interface RunnerProgress {
  runnerId: string;
  state: 'PULLING';
  detail: string;
}

export interface ComputeDriver {
  start(spec: RunnerSpec): Promise<void>;
  /** Asks the runner to drain: stop taking work, finish in-flight work, exit. */
  stop(runnerId: string): Promise<void>;
  /** Ends the runner at once. */
  kill(runnerId: string): Promise<void>;
  /** Called once per runner when it has ended, however it ended. */
  onExit(listener: (exit: RunnerExit) => void): void;
  /** Called with steps of a start the runner cannot report itself (drivers that see them). */
  onProgress?(listener: (p: RunnerProgress) => void): void;
  /**
   * After a restart, for drivers whose runners outlive control: finds them again, keeps those a
   * runner record claims and ends the rest.
   */
  reclaim?(isClaimed: (runnerId: string) => Promise<boolean>): Promise<void>;
  /**
   * True when the driver bounds the wait for capacity itself (ECS: a capacity window per machine
   * type), so startup_timeout counts from the runner's own start, not from the request for it.
   */
  readonly boundsProvisioning?: boolean;
  /**
   * True when the driver's calls are visible to others (ECS: RunTask overrides show in DescribeTasks
   * and CloudTrail): it gets `secrets` (references) and an empty `env`, never secret values.
   */
  readonly secretsByReference?: boolean;
  /**
   * False when runners must not get their queue's address and rights (ECS: containers of a task
   * share its role, so the app could use them); they then pull their work through control.
   */
  readonly directQueueAccess?: boolean;
  /**
   * How many more runners of these settings fit now, for drivers that know their machine (the
   * container driver's free GPUs); the scaler starts no more than that, so a full host is a wait,
   * not a string of failed starts. Undefined: no limit known, or none could ever fit (the start
   * then fails with the reason).
   */
  room?(settings: Revision['settings']): number | undefined;
  /** Drains every runner it started (with a deadline), then forgets them. */
  close(graceMs?: number): Promise<void>;
  /**
   * Forgets every runner it started and leaves it running: another control process sharing the
   * database adopts them (a rolling upgrade). Drivers without it are closed instead.
   */
  release?(): Promise<void>;
}
