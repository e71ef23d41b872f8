/** The records control keeps. Times are epoch milliseconds. */
import type { RunnerState } from '../../contract/src/runner-protocol.ts';
import type { CodeSettings, RuntimeSettings } from '../../contract/src/scaling-settings.ts';

export type AuthMode = 'private' | 'public' | 'shared';
export const AUTH_MODES: AuthMode[] = ['private', 'public', 'shared'];

export interface App {
  id: string;
  owner: string;
  name: string;
  auth_mode: AuthMode;
  created_at: number;
}

export interface Environment {
  id: string;
  app_id: string;
  name: string;
  active_revision_id: string | null;
  scaling: RuntimeSettings;
  created_at: number;
}

export interface Revision {
  id: string;
  environment_id: string;
  number: number;
  image: string | null;
  /** argv of the app process, for the process compute driver. */
  command: string[] | null;
  cwd: string | null;
  settings: CodeSettings;
  commit_sha: string | null;
  message: string | null;
  annotations: Record<string, unknown>;
  created_by: string | null;
  created_at: number;
}

export type RequestStatus = 'IN_QUEUE' | 'IN_PROGRESS' | 'COMPLETED';
export type Priority = 'normal' | 'low';

export interface RequestRecord {
  id: string;
  environment_id: string;
  path: string;
  input: unknown;
  status: RequestStatus;
  priority: Priority;
  attempts: number;
  no_retry: boolean;
  start_deadline: number | null;
  cancel_requested: boolean;
  runner_id: string | null;
  result_status: number | null;
  result_body: unknown;
  result_content_type: string | null;
  error: string | null;
  error_type: string | null;
  created_at: number;
  started_at: number | null;
  completed_at: number | null;
  inference_ms: number | null;
  /** The key the caller sent, when it was valid (usage of shared apps is recorded against it). */
  key_id: string | null;
  /** fal_webhook: where the outcome is POSTed on completion. */
  webhook_url: string | null;
  /** Ran out of attempts; its message went to the dead-letter queue. */
  dead_lettered: boolean;
  /** The input exactly as sent, and its content type (null for requests from before they were kept). */
  input_raw: Uint8Array | null;
  input_content_type: string | null;
  /** The result exactly as the app answered it (null when control composed the result itself). */
  result_raw: Uint8Array | null;
  /** When retention removed the input, result and logs. */
  expired_at: number | null;
  /** x-fal-runner-hint: requests with the same hint prefer the runner that served it last. */
  runner_hint: string | null;
}

export type KeyScope = 'ADMIN' | 'API';
export const KEY_SCOPES: KeyScope[] = ['ADMIN', 'API'];

/** A key as listed: never the key itself, which is kept only as a hash. */
export interface KeyRecord {
  id: string;
  scope: KeyScope;
  /** The owner whose private apps an API key may call; null for ADMIN keys (they may call any). */
  owner: string | null;
  description: string;
  created_at: number;
  revoked_at: number | null;
  /** API keys: the apps (`owner/name`) it may call; null: any its owner rule allows. */
  apps: string[] | null;
  /** API keys: the environments it may call; null: any. */
  environments: string[] | null;
  /** After this the key is refused (GANTRY_ERR_KEY_EXPIRED); null: never. */
  expires_at: number | null;
  /** Submissions a minute this key may make; null: no limit. */
  rate_limit: number | null;
}

/**
 * Who is calling, from a valid key. An ADMIN key with an owner manages that owner's apps only; an
 * API key with `apps` or `environments` calls only those.
 */
export interface Caller {
  id: string;
  scope: KeyScope;
  owner: string | null;
  apps?: string[] | null;
  environments?: string[] | null;
  expires_at?: number | null;
  rate_limit?: number | null;
}

/** What a revision's runners showed: `failed` when some crashed before ready and none ever got ready. */
export interface RevisionHealth {
  status: 'ok' | 'failed' | 'not_started';
  failure: string | null;
}

export interface RequestLog {
  seq: number;
  timestamp: string;
  level: string;
  source: string;
  message: string;
}

export interface RunnerRecord {
  id: string;
  environment_id: string;
  revision_id: string;
  state: RunnerState;
  in_flight: number;
  drain_requested: boolean;
  detail: string | null;
  created_at: number;
  state_changed_at: number;
  ready_at: number | null;
  last_active_at: number | null;
  ended_at: number | null;
  cold_start_ms: number | null;
  history: { state: RunnerState; at: number }[];
}

export type RolloutStrategy = 'rolling' | 'recreate';
export type RolloutState = 'in_progress' | 'completed' | 'aborted' | 'superseded';

/**
 * Moving an environment to a revision (or restarting the one it runs), with who and why. A
 * rolling rollout keeps the old revision active until its candidate runner is healthy.
 */
export interface RolloutRecord {
  id: string;
  environment_id: string;
  from_revision_id: string | null;
  to_revision_id: string;
  strategy: RolloutStrategy;
  /** Same revision, fresh runners (e.g. after a secret changed). */
  restart: boolean;
  state: RolloutState;
  reason: string | null;
  created_by: string | null;
  /** The first runner of the new revision, whose health decides the rollout. */
  candidate_runner_id: string | null;
  detail: string | null;
  created_at: number;
  switched_at: number | null;
  ended_at: number | null;
}

/** Runner states that count as capacity (started or starting, not on the way out). */
export const LIVE_RUNNER_STATES: RunnerState[] = ['PENDING', 'PULLING', 'SETUP', 'IDLE', 'RUNNING'];
export const ENDED_RUNNER_STATES: RunnerState[] = ['TERMINATED', 'CRASH_BACKOFF'];

/** An image built from a repository at a commit, registered by the Action. */
export interface Build {
  id: string;
  repository: string;
  commit_sha: string;
  ref: string | null;
  image: string;
  digest: string;
  content_hash: string | null;
  /** `oidc:<subject>` for a GitHub OIDC token, `key:<id>` for a deploy token. */
  registered_by: string;
  created_at: number;
}
