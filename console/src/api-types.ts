/**
 * The shapes the console reads: the management API's from contract/ (types only: nothing of
 * contract/ is bundled), and those of routes only the console uses (its session, a request's
 * detail, the last hour's series, cost).
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

/** A line of an environment's logs: a request's, or its runner's own output (then `request_id` is null). */
export type {
  AppView,
  EnvironmentView,
  EnvLogLine as LogLine,
  EventView,
  QueueView,
  RequestView,
  RevisionView,
  RolloutView,
  RunnerView,
} from '../../contract/src/management-api.ts';

import type { RequestView } from '../../contract/src/management-api.ts';

export interface RequestDetail extends RequestView {
  input: unknown;
  result: unknown;
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
