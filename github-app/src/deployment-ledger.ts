/**
 * What the App must remember across restarts: the GitHub Deployments it created and where each
 * stands (a push waits here until its build is registered), and the rollouts it made with who and
 * why. GitHub keeps the rest (comments are found again by a hidden marker). Two implementations
 * pass one contract suite: SQL in control's store (sql-ledger.ts) and in memory (this file, for a
 * standalone App without a database, and for tests).
 *
 * Only the App writes here. Ordering rule: a newer deployment of an environment supersedes every
 * older one that has not finished; a superseded deployment is never rolled out.
 */

export type DeploymentState = 'queued' | 'in_progress' | 'success' | 'failure' | 'superseded' | 'inactive';

/** What to deploy, fixed when the deployment is created (from gantry.yml at that commit). */
export interface DeploymentPlan {
  owner: string;
  app: string;
  auth: string;
  code: Record<string, unknown>;
  scaling: Record<string, number>;
  /** The commit's message, the revision's message unless a merged pull request gives one. */
  message: string;
  /** Who caused it: a pusher, or a commenter for `/gantry deploy`. */
  by: string;
  /** The pull request that asked for it (previews and `/gantry deploy`). */
  pull_number?: number;
  /** Previews: hours without a push before the preview is torn down (0: never). */
  expire_after_hours?: number;
}

export interface DeploymentRecord {
  id: number;
  repository: string;
  installation_id: number;
  environment: string;
  commit_sha: string;
  ref: string;
  /** GitHub's deployment id. */
  deployment_id: number;
  state: DeploymentState;
  plan: DeploymentPlan;
  revision: number | null;
  created_at: number;
  updated_at: number;
}

export type NewDeployment = Omit<DeploymentRecord, 'id' | 'state' | 'revision' | 'created_at' | 'updated_at'>;

export interface RolloutRecord {
  repository: string;
  environment: string;
  revision: number;
  /** `push`, `pull_request`, `rollback`, `deploy`. */
  kind: string;
  by: string;
  reason: string;
  at: number;
}

export interface DeploymentLedger {
  add(d: NewDeployment): Promise<DeploymentRecord>;
  get(id: number): Promise<DeploymentRecord | undefined>;
  /** Deployments waiting for the build of this commit. */
  queuedFor(repository: string, commit: string): Promise<DeploymentRecord[]>;
  /** Moves a deployment from `from` to `to`; false when it was not in `from` (someone else moved it). */
  transition(id: number, from: DeploymentState[], to: DeploymentState, revision?: number): Promise<boolean>;
  /** Marks unfinished deployments of the environment older than `id` superseded; returns them. */
  supersedeOlder(repository: string, environment: string, id: number): Promise<DeploymentRecord[]>;
  /** Deployments of an environment, newest first. */
  forEnvironment(repository: string, environment: string): Promise<DeploymentRecord[]>;
  /** The newest deployment of each preview environment (`pr-N`) not torn down yet. */
  previewHeads(): Promise<DeploymentRecord[]>;
  addRollout(r: RolloutRecord): Promise<void>;
  lastRollout(repository: string, environment: string): Promise<RolloutRecord | undefined>;
}

const UNFINISHED: DeploymentState[] = ['queued', 'in_progress'];

export class MemoryLedger implements DeploymentLedger {
  private deployments: DeploymentRecord[] = [];
  private rollouts: RolloutRecord[] = [];
  constructor(private readonly clock: () => number = Date.now) {}

  async add(d: NewDeployment): Promise<DeploymentRecord> {
    const now = this.clock();
    const rec: DeploymentRecord = {
      ...structuredClone(d),
      id: this.deployments.length + 1,
      state: 'queued',
      revision: null,
      created_at: now,
      updated_at: now,
    };
    this.deployments.push(rec);
    return structuredClone(rec);
  }

  async get(id: number): Promise<DeploymentRecord | undefined> {
    const d = this.deployments.find((x) => x.id === id);
    return d && structuredClone(d);
  }

  async queuedFor(repository: string, commit: string): Promise<DeploymentRecord[]> {
    return this.deployments
      .filter((d) => d.repository === repository && d.commit_sha === commit && d.state === 'queued')
      .map((d) => structuredClone(d));
  }

  async transition(
    id: number,
    from: DeploymentState[],
    to: DeploymentState,
    revision?: number,
  ): Promise<boolean> {
    const d = this.deployments.find((x) => x.id === id);
    if (!d || !from.includes(d.state)) return false;
    d.state = to;
    if (revision !== undefined) d.revision = revision;
    d.updated_at = this.clock();
    return true;
  }

  async supersedeOlder(repository: string, environment: string, id: number): Promise<DeploymentRecord[]> {
    const older = this.deployments.filter(
      (d) =>
        d.repository === repository &&
        d.environment === environment &&
        d.id < id &&
        UNFINISHED.includes(d.state),
    );
    for (const d of older) {
      d.state = 'superseded';
      d.updated_at = this.clock();
    }
    return older.map((d) => structuredClone(d));
  }

  async forEnvironment(repository: string, environment: string): Promise<DeploymentRecord[]> {
    return this.deployments
      .filter((d) => d.repository === repository && d.environment === environment)
      .sort((a, b) => b.id - a.id)
      .map((d) => structuredClone(d));
  }

  async previewHeads(): Promise<DeploymentRecord[]> {
    const newest = new Map<string, DeploymentRecord>();
    for (const d of this.deployments) {
      if (!/^pr-\d+$/.test(d.environment)) continue;
      const key = `${d.repository} ${d.environment}`;
      const seen = newest.get(key);
      if (!seen || seen.id < d.id) newest.set(key, d);
    }
    return [...newest.values()].filter((d) => d.state !== 'inactive').map((d) => structuredClone(d));
  }

  async addRollout(r: RolloutRecord): Promise<void> {
    this.rollouts.push({ ...r });
  }

  async lastRollout(repository: string, environment: string): Promise<RolloutRecord | undefined> {
    const mine = this.rollouts.filter((r) => r.repository === repository && r.environment === environment);
    const last = mine[mine.length - 1];
    return last && { ...last };
  }
}
