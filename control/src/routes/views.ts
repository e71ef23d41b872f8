/**
 * How the management API shows control's records: each view is the TypeBox shape of
 * contract/src/management-api.ts, so the routes' response schemas and these agree by type.
 */
import type { Static } from 'typebox';
import type {
  AppView,
  EnvironmentView,
  RequestView,
  RevisionView,
  RunnerView,
} from '../../../contract/src/management-api.ts';
import type { App, Environment, RequestRecord, Revision, RevisionHealth, RunnerRecord } from '../domain.ts';
import type { Store } from '../store/store.ts';

export const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());
export const endpointId = (app: App, env: string) =>
  `${app.owner}/${app.name}${env === 'production' ? '' : `--${env}`}`;

/** An environment as the API shows it (its scaling already carries every default: see the store). */
export async function environmentView(
  store: Store,
  a: App,
  e: Environment,
): Promise<Static<typeof EnvironmentView>> {
  const rev = e.active_revision_id ? await store.revisions.get(e.active_revision_id) : undefined;
  return {
    name: e.name,
    endpoint_id: endpointId(a, e.name),
    active_revision: rev?.number ?? null,
    scaling: e.scaling,
  };
}

export function appView(a: App): Static<typeof AppView> {
  return {
    id: a.id,
    owner: a.owner,
    name: a.name,
    endpoint_id: endpointId(a, 'production'),
    auth_mode: a.auth_mode,
    created_at: iso(a.created_at)!,
  };
}

export function revisionView(
  r: Revision,
  env: Environment,
  health?: RevisionHealth,
): Static<typeof RevisionView> {
  return {
    number: r.number,
    environment: env.name,
    active: env.active_revision_id === r.id,
    image: r.image,
    command: r.command,
    cwd: r.cwd,
    settings: r.settings,
    commit_sha: r.commit_sha,
    message: r.message,
    annotations: r.annotations,
    created_at: iso(r.created_at)!,
    status: health?.status ?? 'not_started',
    failure: health?.failure ?? null,
  };
}

export function runnerView(r: RunnerRecord, revisions: Map<string, number>): Static<typeof RunnerView> {
  return {
    id: r.id,
    state: r.state,
    revision: revisions.get(r.revision_id) ?? null,
    in_flight: r.in_flight,
    created_at: iso(r.created_at)!,
    state_changed_at: iso(r.state_changed_at)!,
    ready_at: iso(r.ready_at),
    ended_at: iso(r.ended_at),
    cold_start_ms: r.cold_start_ms,
    detail: r.detail,
    history: r.history.map((h) => ({ state: h.state, at: iso(h.at)! })),
  };
}

export function requestView(r: RequestRecord): Static<typeof RequestView> {
  return {
    request_id: r.id,
    status: r.status,
    path: r.path,
    attempts: r.attempts,
    priority: r.priority,
    result_status: r.result_status,
    error: r.error,
    error_type: r.error_type,
    runner_id: r.runner_id,
    created_at: iso(r.created_at)!,
    started_at: iso(r.started_at),
    completed_at: iso(r.completed_at),
    inference_time: r.inference_ms === null ? null : r.inference_ms / 1000,
    dead_lettered: r.dead_lettered,
  };
}
