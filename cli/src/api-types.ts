/**
 * The shapes of control's management answers the CLI reads: only the fields it uses. Control's
 * route schemas (and /openapi.json) are the full reference.
 */
export interface AppInfo {
  owner: string;
  name: string;
  endpoint_id: string;
  auth_mode: string;
  created_at: string;
}

export interface EnvironmentInfo {
  name: string;
  endpoint_id: string;
  active_revision: number | null;
  scaling: Record<string, number>;
  secrets?: number;
  created_at?: string;
}

export interface RevisionInfo {
  number: number;
  environment: string;
  active: boolean;
  image: string | null;
  command: string[] | null;
  message: string | null;
  created_at: string;
  status: 'ok' | 'failed' | 'not_started';
  failure: string | null;
}

export interface RunnerInfo {
  id: string;
  state: string;
  revision: number | null;
  in_flight: number;
  created_at: string;
  ready_at: string | null;
  ended_at: string | null;
  cold_start_ms: number | null;
  detail: string | null;
}

export interface LogLine {
  seq: number;
  /** Null for a runner's own output outside any request (then runner_id names it). */
  request_id: string | null;
  runner_id?: string | null;
  timestamp: string;
  level: string;
  source: string;
  message: string;
}

export interface KeyInfo {
  id: string;
  scope: string;
  owner: string | null;
  description: string;
  created_at: string;
  requests?: number;
  last_used_at?: string | null;
  key?: string;
}

export interface SecretChange {
  environment: string;
  names: string[];
  restart_needed: boolean;
  hint: string;
}
