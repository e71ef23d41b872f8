/**
 * The shapes the console reads from control's management API (`/v1/…`) and its own session
 * routes (`/console/session`). Mirrors the route schemas until they move into contract/.
 */

export type Scope = 'ADMIN' | 'API';

export interface Session {
  scope: Scope;
  owner: string | null;
  /** Sent back as `x-gantry-csrf` on every call that changes something. */
  csrf: string;
  /** For an API key: the endpoints it may call (an ADMIN key lists apps through /v1/apps). */
  endpoints?: { endpoint_id: string; auth_mode: string }[];
}

export interface AppView {
  id: string;
  owner: string;
  name: string;
  endpoint_id: string;
  auth_mode: string;
  created_at: string;
}

export interface EnvironmentView {
  name: string;
  endpoint_id: string;
  active_revision: number | null;
  scaling: Record<string, number>;
}

export interface RevisionView {
  number: number;
  environment: string;
  active: boolean;
  image: string | null;
  command: string[] | null;
  commit_sha: string | null;
  message: string | null;
  annotations: Record<string, unknown>;
  created_at: string;
  status: 'ok' | 'failed' | 'not_started';
  failure: string | null;
  settings: Record<string, unknown>;
}

export interface RunnerView {
  id: string;
  state: string;
  revision: number | null;
  in_flight: number;
  created_at: string;
  state_changed_at: string;
  ready_at: string | null;
  ended_at: string | null;
  cold_start_ms: number | null;
  detail: string | null;
  history: { state: string; at: string }[];
}

export interface RequestView {
  request_id: string;
  status: string;
  path: string;
  attempts: number;
  priority: string;
  result_status: number | null;
  error: string | null;
  error_type: string | null;
  runner_id: string | null;
  created_at: string;
  started_at: string | null;
  completed_at: string | null;
  inference_time: number | null;
  dead_lettered: boolean;
}

export interface RequestDetail extends RequestView {
  input: unknown;
  result: unknown;
}

export interface LogLine {
  seq: number;
  request_id: string | null;
  runner_id?: string | null;
  timestamp: string;
  level: string;
  source: string;
  message: string;
}

export interface RolloutView {
  id: string;
  from_revision: number | null;
  to_revision: number;
  strategy: string;
  restart: boolean;
  state: string;
  reason: string | null;
  created_by: string | null;
  detail: string | null;
  created_at: string;
  switched_at: string | null;
  ended_at: string | null;
}

export interface QueueView {
  queued: number;
  in_progress: number;
  oldest_queued_at: string | null;
}

/** One thing that happened to an environment (GET …/events). */
export interface EventView {
  seq: number;
  at: string;
  type: string;
  message: string;
  runner_id: string | null;
  revision: number | null;
  data: Record<string, unknown>;
}

/** Per-minute figures of an environment over the last hour (GET …/series). */
export interface SeriesView {
  minutes: {
    at: string;
    submitted: number;
    queue_depth: number;
    p50_latency_ms: number | null;
    p95_latency_ms: number | null;
  }[];
}

/** Runner-seconds, by day and machine type (GET /v1/cost). */
export interface CostView {
  days: { day: string; machine_type: string; app: string; environment: string; runner_seconds: number }[];
}
