/**
 * Every call the App makes to Gantry control, in one place. It speaks control's management API
 * with an admin key. Rollouts go through `PUT …/active-revision`, which records who, why and the
 * strategy in control's rollout history.
 */

export interface ControlBuild {
  id: string;
  repository: string;
  commit_sha: string;
  image: string;
  digest: string;
}

export interface ControlRevision {
  number: number;
  environment: string;
  active: boolean;
  image: string | null;
  commit_sha: string | null;
  message: string | null;
  annotations: Record<string, unknown>;
  created_at: string;
}

export interface ControlEnvironment {
  name: string;
  endpoint_id: string;
  active_revision: number | null;
}

export interface NewRevision {
  image: string;
  settings: Record<string, unknown>;
  commit_sha: string;
  message: string;
  annotations: Record<string, unknown>;
}

/** Who moved an environment and why, for the rollout record. */
/** control's rollout states: `completed` means the environment now serves the revision. */
export interface RolloutOutcome {
  id: string | null;
  state: 'completed' | 'in_progress' | 'aborted' | 'superseded';
  detail: string | null;
}

export interface RolloutReason {
  by: string;
  reason: string;
  /**
   * Unset: control's default (rolling while runners are live). Rollbacks pass `recreate`: they
   * switch at once, so the revision being rolled back from stops taking work immediately.
   */
  strategy?: 'rolling' | 'recreate';
}

/** Control refused a call: its error code and its message for the user. */
export class ControlError extends Error {
  override name = 'ControlError';
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

export interface ControlClient {
  /** Creates the app unless it exists. */
  ensureApp(owner: string, name: string, authMode: string): Promise<void>;
  /** Builds control holds for a commit, newest first. */
  builds(repository: string, commit: string): Promise<ControlBuild[]>;
  /** Adds a revision without making it active. */
  createRevision(owner: string, name: string, env: string, rev: NewRevision): Promise<ControlRevision>;
  setScaling(owner: string, name: string, env: string, settings: Record<string, number>): Promise<void>;
  /**
   * Moves the environment to `revision` (its image is reused, no rebuild). A rolling rollout answers
   * `in_progress`: the switch happens once a runner of the revision is healthy (see rolloutState).
   */
  rollout(
    owner: string,
    name: string,
    env: string,
    revision: number,
    why: RolloutReason,
  ): Promise<RolloutOutcome>;
  /** Where a rollout stands now. */
  rolloutState(owner: string, name: string, env: string, id: string): Promise<RolloutOutcome>;
  /** Undefined when the app does not exist. */
  environments(owner: string, name: string): Promise<ControlEnvironment[] | undefined>;
  revisions(owner: string, name: string, env: string): Promise<ControlRevision[]>;
  /** Live runners of the environment. */
  runnerCount(owner: string, name: string, env: string): Promise<number>;
  /** Requests waiting in the environment's queue. */
  queueDepth(owner: string, name: string, env: string): Promise<number>;
  /** Removes a preview environment: its runners, queue and secrets. */
  removeEnvironment(owner: string, name: string, env: string): Promise<void>;
}

const LIVE = new Set(['PENDING', 'PULLING', 'SETUP', 'IDLE', 'RUNNING']);

export interface HttpControlClientOptions {
  /** Control's base URL. */
  url: string;
  /** A management key with the ADMIN scope. */
  key: string;
  fetch?: typeof fetch;
}

export class HttpControlClient implements ControlClient {
  private readonly fetch: typeof fetch;
  constructor(private readonly o: HttpControlClientOptions) {
    this.fetch = o.fetch ?? globalThis.fetch;
  }

  private async call<T>(method: string, path: string, body?: unknown): Promise<T> {
    const res = await this.fetch(`${this.o.url}${path}`, {
      method,
      headers: {
        authorization: `Key ${this.o.key}`,
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      signal: AbortSignal.timeout(30_000),
    });
    const text = await res.text();
    let parsed: unknown;
    try {
      parsed = text === '' ? undefined : JSON.parse(text);
    } catch {
      parsed = undefined;
    }
    if (!res.ok) {
      const e = (parsed ?? {}) as { code?: unknown; message?: unknown };
      throw new ControlError(
        res.status,
        typeof e.code === 'string' ? e.code : 'UNKNOWN',
        typeof e.message === 'string' ? e.message : `control answered ${res.status}: ${text.slice(0, 200)}`,
      );
    }
    return parsed as T;
  }

  private env(owner: string, name: string, env: string) {
    return `/v1/apps/${encodeURIComponent(owner)}/${encodeURIComponent(name)}/environments/${encodeURIComponent(env)}`;
  }

  async ensureApp(owner: string, name: string, authMode: string): Promise<void> {
    try {
      await this.call('POST', '/v1/apps', { owner, name, auth_mode: authMode });
    } catch (err) {
      if (!(err instanceof ControlError && err.code === 'GANTRY_ERR_APP_EXISTS')) throw err;
    }
  }

  async builds(repository: string, commit: string): Promise<ControlBuild[]> {
    const q = new URLSearchParams({ repository, commit });
    return (await this.call<{ builds: ControlBuild[] }>('GET', `/v1/builds?${q}`)).builds;
  }

  createRevision(owner: string, name: string, env: string, rev: NewRevision): Promise<ControlRevision> {
    return this.call('POST', `${this.env(owner, name, env)}/revisions`, { ...rev, activate: false });
  }

  async setScaling(
    owner: string,
    name: string,
    env: string,
    settings: Record<string, number>,
  ): Promise<void> {
    await this.call('PATCH', `${this.env(owner, name, env)}/scaling`, settings);
  }

  async rollout(
    owner: string,
    name: string,
    env: string,
    revision: number,
    why: RolloutReason,
  ): Promise<RolloutOutcome> {
    const r = await this.call<{ active: boolean; rollout?: RolloutOutcome }>(
      'PUT',
      `${this.env(owner, name, env)}/active-revision`,
      { revision, by: why.by, reason: why.reason, ...(why.strategy ? { strategy: why.strategy } : {}) },
    );
    if (r.rollout) return { id: r.rollout.id, state: r.rollout.state, detail: r.rollout.detail ?? null };
    return { id: null, state: r.active ? 'completed' : 'in_progress', detail: null };
  }

  async rolloutState(owner: string, name: string, env: string, id: string): Promise<RolloutOutcome> {
    const { rollouts } = await this.call<{ rollouts: RolloutOutcome[] }>(
      'GET',
      `${this.env(owner, name, env)}/rollouts?limit=20`,
    );
    const r = rollouts.find((x) => x.id === id);
    // Fallen out of the recent list: long finished and replaced by newer ones.
    return r ? { id, state: r.state, detail: r.detail ?? null } : { id, state: 'superseded', detail: null };
  }

  async environments(owner: string, name: string): Promise<ControlEnvironment[] | undefined> {
    try {
      const app = await this.call<{ environments: ControlEnvironment[] }>(
        'GET',
        `/v1/apps/${encodeURIComponent(owner)}/${encodeURIComponent(name)}`,
      );
      return app.environments;
    } catch (err) {
      if (err instanceof ControlError && err.code === 'GANTRY_ERR_APP_NOT_FOUND') return undefined;
      throw err;
    }
  }

  async revisions(owner: string, name: string, env: string): Promise<ControlRevision[]> {
    return (
      await this.call<{ revisions: ControlRevision[] }>('GET', `${this.env(owner, name, env)}/revisions`)
    ).revisions;
  }

  async runnerCount(owner: string, name: string, env: string): Promise<number> {
    const { runners } = await this.call<{ runners: { state: string }[] }>(
      'GET',
      `${this.env(owner, name, env)}/runners?ended_within_hours=0`,
    );
    return runners.filter((r) => LIVE.has(r.state)).length;
  }

  async queueDepth(owner: string, name: string, env: string): Promise<number> {
    const { requests } = await this.call<{ requests: { status: string }[] }>(
      'GET',
      `${this.env(owner, name, env)}/requests?limit=1000`,
    );
    return requests.filter((r) => r.status === 'IN_QUEUE').length;
  }

  async removeEnvironment(owner: string, name: string, env: string): Promise<void> {
    try {
      await this.call('DELETE', this.env(owner, name, env));
    } catch (err) {
      if (err instanceof ControlError && err.code === 'GANTRY_ERR_ENVIRONMENT_NOT_FOUND') return;
      if (err instanceof ControlError && err.code === 'GANTRY_ERR_APP_NOT_FOUND') return;
      // A control without environment deletion (before it has DELETE …/environments/{env}): scale the
      // preview to zero so it holds no runners; its records stay until the route exists.
      if (err instanceof ControlError && err.code === 'GANTRY_ERR_ROUTE_NOT_FOUND') {
        try {
          await this.setScaling(owner, name, env, {
            min_concurrency: 0,
            concurrency_buffer: 0,
            keep_alive: 0,
          });
        } catch (e) {
          if (!(e instanceof ControlError && e.code === 'GANTRY_ERR_ENVIRONMENT_NOT_FOUND')) throw e;
        }
        return;
      }
      throw err;
    }
  }
}
