/**
 * Control's management API as the App sees it (ControlClient), in memory, recording each call.
 * The integration test runs the App against a real control service instead.
 */
import {
  ControlApiError,
  type ControlBuild,
  type ControlClient,
  type ControlEnvironment,
  type ControlRevision,
  type NewRevision,
  type RolloutOutcome,
  type RolloutReason,
} from '../src/control-client.ts';

interface Env {
  revisions: ControlRevision[];
  active: number | null;
  scaling: Record<string, number>;
  removed: boolean;
}

export class FakeControl implements ControlClient {
  /** Outcomes the next rollout() and rolloutState() calls answer, in order (empty: switch at once). */
  rolloutScript: RolloutOutcome[] = [];
  private pendingRollout: ((o: RolloutOutcome) => RolloutOutcome) | undefined;
  calls: string[] = [];
  builds_: ControlBuild[] = [];
  apps = new Map<string, { auth: string; envs: Map<string, Env> }>();
  rollouts: { app: string; env: string; revision: number; why: RolloutReason }[] = [];

  addBuild(repository: string, commit: string): ControlBuild {
    const hex = commit.slice(0, 2).padEnd(2, '0');
    const b = {
      id: `b-${commit.slice(0, 7)}`,
      repository,
      commit_sha: commit,
      image: `reg.example.com/app@sha256:${hex.repeat(32)}`,
      digest: `sha256:${hex.repeat(32)}`,
    };
    this.builds_.unshift(b);
    return b;
  }

  private env(owner: string, name: string, env: string, create = false): Env {
    const app = this.apps.get(`${owner}/${name}`);
    if (!app)
      throw new ControlApiError(404, {
        code: 'GANTRY_ERR_APP_NOT_FOUND',
        message: `No app ${owner}/${name}.`,
      });
    let e = app.envs.get(env);
    if (!e && create) {
      e = { revisions: [], active: null, scaling: {}, removed: false };
      app.envs.set(env, e);
    }
    if (!e)
      throw new ControlApiError(404, {
        code: 'GANTRY_ERR_ENVIRONMENT_NOT_FOUND',
        message: `No environment ${env}.`,
      });
    return e;
  }

  async ensureApp(owner: string, name: string, authMode: string): Promise<void> {
    this.calls.push(`ensureApp ${owner}/${name} ${authMode}`);
    if (!this.apps.has(`${owner}/${name}`)) {
      this.apps.set(`${owner}/${name}`, { auth: authMode, envs: new Map() });
    }
  }

  async builds(repository: string, commit: string): Promise<ControlBuild[]> {
    return this.builds_.filter((b) => b.repository === repository && b.commit_sha === commit);
  }

  async createRevision(owner: string, name: string, env: string, rev: NewRevision): Promise<ControlRevision> {
    this.calls.push(`createRevision ${owner}/${name} ${env} ${rev.commit_sha.slice(0, 7)}`);
    const e = this.env(owner, name, env, true);
    const r: ControlRevision = {
      number: e.revisions.length + 1,
      environment: env,
      active: false,
      image: rev.image,
      commit_sha: rev.commit_sha,
      message: rev.message,
      annotations: rev.annotations,
      created_at: new Date().toISOString(),
    };
    e.revisions.push(r);
    return { ...r };
  }

  async setScaling(
    owner: string,
    name: string,
    env: string,
    settings: Record<string, number>,
  ): Promise<void> {
    this.calls.push(`setScaling ${owner}/${name} ${env} ${JSON.stringify(settings)}`);
    const e = this.env(owner, name, env);
    for (const [k, v] of Object.entries(settings)) {
      if (k === 'keep_alive' && (v < 0 || v > 86_400)) {
        throw new ControlApiError(400, {
          code: 'GANTRY_ERR_INVALID_SETTING',
          message: `keep_alive must be a number from 0 to 86400, got ${v}.`,
        });
      }
    }
    Object.assign(e.scaling, settings);
  }

  async rollout(
    owner: string,
    name: string,
    env: string,
    revision: number,
    why: RolloutReason,
  ): Promise<RolloutOutcome> {
    this.calls.push(`rollout ${owner}/${name} ${env} ${revision}`);
    const e = this.env(owner, name, env);
    if (!e.revisions.some((r) => r.number === revision)) {
      throw new ControlApiError(404, {
        code: 'GANTRY_ERR_REVISION_NOT_FOUND',
        message: `No revision ${revision}.`,
      });
    }
    this.rollouts.push({ app: `${owner}/${name}`, env, revision, why });
    // Scripted: a rolling rollout's course (first answer, then each rolloutState); else at once.
    const first = this.rolloutScript.shift() ?? { id: null, state: 'completed' as const, detail: null };
    const settle = (o: RolloutOutcome) => {
      if (o.state === 'completed') e.active = revision;
      return o;
    };
    this.pendingRollout = settle;
    return settle(first);
  }

  async rolloutState(_owner: string, _name: string, _env: string, id: string): Promise<RolloutOutcome> {
    this.calls.push(`rolloutState ${id}`);
    const next = this.rolloutScript.shift() ?? { id, state: 'completed' as const, detail: null };
    return this.pendingRollout ? this.pendingRollout(next) : next;
  }

  async environments(owner: string, name: string): Promise<ControlEnvironment[] | undefined> {
    const app = this.apps.get(`${owner}/${name}`);
    if (!app) return undefined;
    return [...app.envs.entries()]
      .filter(([, e]) => !e.removed)
      .map(([n, e]) => ({
        name: n,
        endpoint_id: `${owner}/${name}${n === 'production' ? '' : `--${n}`}`,
        active_revision: e.active,
      }));
  }

  async revisions(owner: string, name: string, env: string): Promise<ControlRevision[]> {
    const e = this.env(owner, name, env);
    return e.revisions.map((r) => ({ ...r, active: r.number === e.active })).reverse();
  }

  async runnerCount(): Promise<number> {
    return 1;
  }

  async queueDepth(): Promise<number> {
    return 0;
  }

  async removeEnvironment(owner: string, name: string, env: string): Promise<void> {
    this.calls.push(`removeEnvironment ${owner}/${name} ${env}`);
    const e = this.env(owner, name, env);
    e.removed = true;
  }

  active(app: string, env: string): number | null {
    return this.apps.get(app)?.envs.get(env)?.active ?? null;
  }
}
