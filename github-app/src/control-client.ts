/**
 * What the App needs of Gantry control, in one small interface: its handlers call this, tests
 * answer it in memory (test/fake-control.ts), and HttpControlClient implements it on the one typed
 * client of the management API (contract/src/control-client.ts) with an admin key. Rollouts go
 * through `PUT …/active-revision`, which records who, why and the strategy in control's history.
 */
import {
  ControlApiClient,
  type ControlApiClientOptions,
  ControlApiError,
} from '../../contract/src/control-client.ts';
import type { BuildView, RevisionView, RolloutView } from '../../contract/src/management-api.ts';

/** Control refused a call: its catalogue code, status, fault and message for the user. */
export { ControlApiError };

/** The fields of a build the App reads. */
export type ControlBuild = Pick<BuildView, 'id' | 'repository' | 'commit_sha' | 'image' | 'digest'>;

/** The fields of a revision the App reads. */
export type ControlRevision = Pick<
  RevisionView,
  'number' | 'environment' | 'active' | 'image' | 'commit_sha' | 'message' | 'annotations' | 'created_at'
>;

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

/** control's rollout states: `completed` means the environment now serves the revision. */
export interface RolloutOutcome {
  id: string | null;
  state: RolloutView['state'];
  detail: string | null;
}

/** Who moved an environment and why, for the rollout record. */
export interface RolloutReason {
  by: string;
  reason: string;
  /**
   * Unset: control's default (rolling while runners are live). Rollbacks pass `recreate`: they
   * switch at once, so the revision being rolled back from stops taking work immediately.
   */
  strategy?: 'rolling' | 'recreate';
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

export type HttpControlClientOptions = Pick<ControlApiClientOptions, 'url' | 'key' | 'fetch'> & {
  /** A management key with the ADMIN scope. */
  key: string;
};

const hasCode = (err: unknown, ...codes: string[]) =>
  err instanceof ControlApiError && err.code !== undefined && codes.includes(err.code);

export class HttpControlClient implements ControlClient {
  private readonly api: ControlApiClient;
  constructor(o: HttpControlClientOptions) {
    this.api = new ControlApiClient(o);
  }

  async ensureApp(owner: string, name: string, authMode: string): Promise<void> {
    try {
      await this.api.createApp({ owner, name, auth_mode: authMode as 'private' });
    } catch (err) {
      if (!hasCode(err, 'GANTRY_ERR_APP_EXISTS')) throw err;
    }
  }

  builds(repository: string, commit: string): Promise<ControlBuild[]> {
    return this.api.listBuilds({ repository, commit });
  }

  createRevision(owner: string, name: string, env: string, rev: NewRevision): Promise<ControlRevision> {
    return this.api.createRevision({ owner, name, env }, { ...rev, activate: false });
  }

  async setScaling(
    owner: string,
    name: string,
    env: string,
    settings: Record<string, number>,
  ): Promise<void> {
    await this.api.patchScaling({ owner, name, env }, settings);
  }

  async rollout(
    owner: string,
    name: string,
    env: string,
    revision: number,
    why: RolloutReason,
  ): Promise<RolloutOutcome> {
    const r = await this.api.setActiveRevision(
      { owner, name, env },
      { revision, by: why.by, reason: why.reason, ...(why.strategy ? { strategy: why.strategy } : {}) },
    );
    return { id: r.rollout.id, state: r.rollout.state, detail: r.rollout.detail };
  }

  async rolloutState(owner: string, name: string, env: string, id: string): Promise<RolloutOutcome> {
    const rollouts = await this.api.listRollouts({ owner, name, env }, { limit: 20 });
    const r = rollouts.find((x) => x.id === id);
    // Fallen out of the recent list: long finished and replaced by newer ones.
    return r ? { id, state: r.state, detail: r.detail } : { id, state: 'superseded', detail: null };
  }

  async environments(owner: string, name: string): Promise<ControlEnvironment[] | undefined> {
    try {
      return (await this.api.getApp({ owner, name })).environments;
    } catch (err) {
      if (hasCode(err, 'GANTRY_ERR_APP_NOT_FOUND')) return undefined;
      throw err;
    }
  }

  revisions(owner: string, name: string, env: string): Promise<ControlRevision[]> {
    return this.api.listRevisions({ owner, name, env });
  }

  async runnerCount(owner: string, name: string, env: string): Promise<number> {
    const runners = await this.api.listRunners({ owner, name, env }, { ended_within_hours: 0 });
    return runners.filter((r) => LIVE.has(r.state)).length;
  }

  async queueDepth(owner: string, name: string, env: string): Promise<number> {
    return (await this.api.queue({ owner, name, env })).queued;
  }

  async removeEnvironment(owner: string, name: string, env: string): Promise<void> {
    try {
      await this.api.deleteEnvironment({ owner, name, env });
    } catch (err) {
      if (hasCode(err, 'GANTRY_ERR_ENVIRONMENT_NOT_FOUND', 'GANTRY_ERR_APP_NOT_FOUND')) return;
      throw err;
    }
  }
}
