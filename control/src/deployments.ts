/**
 * The management use cases that touch more than one part of control: creating an environment
 * (row and queue), deploying a revision (environment, queue, revision, rollout), changing the
 * active revision, and deleting an app or environment (runners drained, queues and mirrored
 * secrets removed, rows gone). Routes call these, so every caller (the CLI, the Action, an
 * extension in process through the admin API) gets the same steps in the same order.
 */
import { GantryError } from '../../contract/src/errors.ts';
import type { App, Environment, Revision, RevisionHealth, RolloutRecord, RolloutStrategy } from './domain.ts';
import type { Activity } from './events/activity.ts';
import type { QueueDriver } from './queue/queue-driver.ts';
import type { Rollouts } from './scaling/rollouts.ts';
import type { Scaler } from './scaling/scaler.ts';
import type { EnvironmentSecrets } from './secrets/environment-secrets.ts';
import type { NewRevision } from './store/revisions-store.ts';
import type { Store } from './store/store.ts';

export interface DeployRequest {
  revision: NewRevision;
  /** false: record the revision without making it active. */
  activate: boolean;
  strategy?: RolloutStrategy;
}

export class Deployments {
  constructor(
    private readonly d: {
      store: Store;
      queue: QueueDriver;
      scaler: Scaler;
      rollouts: Rollouts;
      activity?: Activity;
      /** The environment's secrets outside the database (ECS: Secrets Manager). */
      secrets?: Pick<EnvironmentSecrets, 'removeAll'>;
    },
  ) {}

  /** A new environment of an app, with its queue. */
  async createEnvironment(a: App, name: string): Promise<Environment> {
    const env = await this.d.store.apps.createEnvironment(a.id, name);
    await this.d.queue.ensure(env.id, labels(a, env));
    return env;
  }

  /**
   * Records a revision in an environment (made on first use) and, unless told not to, rolls it
   * out. Returns the revision and the environment as it is afterwards.
   */
  async deploy(a: App, envName: string, o: DeployRequest): Promise<{ revision: Revision; env: Environment }> {
    const { store } = this.d;
    const env = await store.apps.ensureEnvironment(a.id, envName);
    await this.d.queue.ensure(env.id, labels(a, env));
    const revision = await store.revisions.create(env.id, o.revision);
    this.d.activity?.deployed(env, revision);
    if (o.activate) {
      await this.d.rollouts.start(env, {
        revision,
        reason: 'deploy',
        by: o.revision.created_by ?? 'api',
        ...(o.strategy ? { strategy: o.strategy } : {}),
      });
    }
    return { revision, env: (await store.apps.getEnvironmentById(env.id))! };
  }

  /**
   * Makes an existing revision the active one through a rollout (a rollback is this with an
   * earlier number). A revision that failed to start is refused, unless it is already active.
   */
  async activate(
    env: Environment,
    number: number,
    o: { strategy?: RolloutStrategy; reason?: string; by?: string },
  ): Promise<{ revision: Revision; env: Environment; health?: RevisionHealth; rollout: RolloutRecord }> {
    const { store } = this.d;
    const revision = await this.revisionByNumber(env, number);
    const health = (await store.revisions.health(env.id)).get(revision.id);
    if (health?.status === 'failed' && env.active_revision_id !== revision.id) {
      throw new GantryError(
        'GANTRY_ERR_REVISION_FAILED',
        `Revision ${number} of ${env.name} failed to start, so it is not made active: ${health.failure}`,
      );
    }
    const rollout = await this.d.rollouts.start(env, {
      revision,
      ...(o.strategy ? { strategy: o.strategy } : {}),
      reason: o.reason ?? 'set active revision',
      by: o.by ?? 'api',
    });
    const fresh = (await store.apps.getEnvironmentById(env.id))!;
    return { revision, env: fresh, ...(health ? { health } : {}), rollout };
  }

  /** A revision by its number, or a not-found error that lists the numbers there are. */
  async revisionByNumber(env: Environment, n: number): Promise<Revision> {
    const rev = await this.d.store.revisions.getByNumber(env.id, n);
    if (!rev) {
      const known = (await this.d.store.revisions.list(env.id)).map((r) => r.number);
      throw new GantryError(
        'GANTRY_ERR_REVISION_NOT_FOUND',
        `Environment ${env.name} has no revision ${n} (it has: ${known.join(', ') || 'none'}).`,
      );
    }
    return rev;
  }

  /** Deletes an environment other than production, with its runners, queue, secrets and history. */
  async deleteEnvironment(a: App, env: Environment): Promise<void> {
    if (env.name === 'production') {
      throw new GantryError(
        'GANTRY_ERR_ENVIRONMENT_PROTECTED',
        `production is deleted only with its app (delete ${a.owner}/${a.name} to remove it).`,
      );
    }
    await this.tearDown(env, `environment ${env.name} deleted`);
    await this.d.store.apps.deleteEnvironment(env.id);
  }

  /** Deletes an app and everything of each of its environments. */
  async deleteApp(a: App): Promise<void> {
    for (const e of await this.d.store.apps.listEnvironments(a.id)) {
      await this.tearDown(e, `app ${a.owner}/${a.name} deleted`);
    }
    await this.d.store.apps.delete(a.id);
  }

  /** What lives outside the database rows: runners (drained), the queue and mirrored secrets. */
  private async tearDown(env: Environment, reason: string): Promise<void> {
    for (const r of await this.d.store.runners.list(env.id)) await this.d.scaler.drain(r.id, reason);
    await this.d.queue.remove(env.id);
    await this.d.secrets?.removeAll(env.id);
  }
}

const labels = (a: App, env: Environment) => ({ app: `${a.owner}/${a.name}`, environment: env.name });
