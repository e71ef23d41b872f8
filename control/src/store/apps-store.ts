/**
 * Apps and their environments. An app is made with its production environment in one
 * transaction; deleting either cascades to everything beneath it.
 */
import { randomUUID } from 'node:crypto';
import { GantryError } from '../../../contract/src/errors.ts';
import { mergeRuntimeSettings, type RuntimeSettings } from '../../../contract/src/scaling-settings.ts';
import type { SqlClient } from '../../../sql/src/sql-client.ts';
import type { App, AuthMode, Environment } from '../domain.ts';
import { AppLookupCache } from './app-lookup-cache.ts';
import { jsonb } from './jsonb.ts';

/** Environments are read with every runtime setting filled in, so no reader meets a missing one. */
const withDefaults = (e: Environment | undefined): Environment | undefined =>
  e && { ...e, scaling: mergeRuntimeSettings(e.scaling, {}) };

export type AppWithEnvironment = { app: App; env: Environment | undefined };

export class AppsStore {
  constructor(
    private readonly db: SqlClient,
    private readonly clock: () => number,
    /** The request path's lookups (getWithEnvironment); every write below empties it. */
    readonly lookups: AppLookupCache<AppWithEnvironment> = new AppLookupCache(),
  ) {}

  /** Runs a write, then tells the lookup cache (after it committed: a reader meanwhile keeps nothing). */
  private async write<T>(run: () => Promise<T>): Promise<T> {
    try {
      return await run();
    } finally {
      this.lookups.changed();
    }
  }

  async create(owner: string, name: string, authMode: AuthMode): Promise<App> {
    const id = randomUUID();
    const now = this.clock();
    return this.db.transaction(async (tx) => {
      const r = await tx.query<App>(
        `INSERT INTO apps (id, owner, name, auth_mode, created_at) VALUES ($1,$2,$3,$4,$5)
         ON CONFLICT (owner, name) DO NOTHING RETURNING *`,
        [id, owner, name, authMode, now],
      );
      const app = r.rows[0];
      if (!app) throw new GantryError('GANTRY_ERR_APP_EXISTS', `App ${owner}/${name} already exists.`);
      await tx.query(
        `INSERT INTO environments (id, app_id, name, scaling, created_at) VALUES ($1,$2,'production','{}',$3)`,
        [randomUUID(), id, now],
      );
      return app;
    });
  }

  async get(owner: string, name: string): Promise<App | undefined> {
    const r = await this.db.query<App>('SELECT * FROM apps WHERE owner=$1 AND name=$2', [owner, name]);
    return r.rows[0];
  }

  async getById(id: string): Promise<App | undefined> {
    return (await this.db.query<App>('SELECT * FROM apps WHERE id=$1', [id])).rows[0];
  }

  async list(): Promise<App[]> {
    return (await this.db.query<App>('SELECT * FROM apps ORDER BY owner, name')).rows;
  }

  async setAuthMode(id: string, authMode: AuthMode): Promise<void> {
    await this.write(() => this.db.query('UPDATE apps SET auth_mode=$2 WHERE id=$1', [id, authMode]));
  }

  /** Deletes the app and, by cascade, its environments, revisions, requests, logs and runners. */
  async delete(id: string): Promise<boolean> {
    return (await this.write(() => this.db.query('DELETE FROM apps WHERE id=$1', [id]))).rowCount > 0;
  }

  /**
   * An app and one of its environments in one round trip (the request path's lookup), from memory
   * while nothing changed (app-lookup-cache.ts).
   */
  async getWithEnvironment(
    owner: string,
    name: string,
    envName: string,
  ): Promise<AppWithEnvironment | undefined> {
    return this.lookups.read(
      `${owner}\n${name}\n${envName}`,
      () => this.readWithEnvironment(owner, name, envName),
      // Only what exists is kept: an app or environment created later needs no invalidation.
      (found) => found.env !== undefined,
    );
  }

  private async readWithEnvironment(
    owner: string,
    name: string,
    envName: string,
  ): Promise<AppWithEnvironment | undefined> {
    const r = await this.db.query<{ app: App; env: Environment | null }>(
      `SELECT to_jsonb(a.*) AS app, to_jsonb(e.*) AS env
       FROM apps a LEFT JOIN environments e ON e.app_id = a.id AND e.name = $3
       WHERE a.owner = $1 AND a.name = $2`,
      [owner, name, envName],
    );
    const row = r.rows[0];
    return row && { app: row.app, env: withDefaults(row.env ?? undefined) };
  }

  async getEnvironment(appId: string, name: string): Promise<Environment | undefined> {
    const r = await this.db.query<Environment>('SELECT * FROM environments WHERE app_id=$1 AND name=$2', [
      appId,
      name,
    ]);
    return withDefaults(r.rows[0]);
  }

  async getEnvironmentById(id: string): Promise<Environment | undefined> {
    return withDefaults(
      (await this.db.query<Environment>('SELECT * FROM environments WHERE id=$1', [id])).rows[0],
    );
  }

  async listEnvironments(appId: string): Promise<Environment[]> {
    const r = await this.db.query<Environment>('SELECT * FROM environments WHERE app_id=$1 ORDER BY name', [
      appId,
    ]);
    return r.rows.map((e) => withDefaults(e)!);
  }

  /** Environments that have something to scale: an active revision. */
  /**
   * The environments the scaler's tick must look at: those with unfinished requests, live runners,
   * an open rollout or a warm minimum. An idle environment costs the tick nothing, so idle work
   * grows with live work, not with the number of environments.
   */
  async listEnvironmentsToReconcile(): Promise<Environment[]> {
    const r = await this.db.query<Environment & { busy: boolean }>(
      `SELECT e.*, (
         EXISTS (SELECT 1 FROM runners r WHERE r.environment_id = e.id AND r.ended_at IS NULL)
         OR EXISTS (SELECT 1 FROM requests q WHERE q.environment_id = e.id AND q.status IN ('IN_QUEUE', 'IN_PROGRESS'))
         OR EXISTS (SELECT 1 FROM rollouts o WHERE o.environment_id = e.id AND o.state = 'in_progress')
       ) AS busy
       FROM environments e
       WHERE e.active_revision_id IS NOT NULL`,
    );
    return r.rows
      .map(({ busy, ...e }) => ({ busy, env: withDefaults(e as Environment)! }))
      .filter(({ busy, env }) => busy || env.scaling.min_concurrency > 0)
      .map(({ env }) => env);
  }

  async ensureEnvironment(appId: string, name: string): Promise<Environment> {
    await this.db.query(
      `INSERT INTO environments (id, app_id, name, scaling, created_at) VALUES ($1,$2,$3,'{}',$4)
       ON CONFLICT (app_id, name) DO NOTHING`,
      [randomUUID(), appId, name, this.clock()],
    );
    return (await this.getEnvironment(appId, name))!;
  }

  /** Creates an environment; refuses one that exists. */
  async createEnvironment(appId: string, name: string): Promise<Environment> {
    const r = await this.db.query<{ id: string }>(
      `INSERT INTO environments (id, app_id, name, scaling, created_at) VALUES ($1,$2,$3,'{}',$4)
       ON CONFLICT (app_id, name) DO NOTHING RETURNING id`,
      [randomUUID(), appId, name, this.clock()],
    );
    if (r.rows.length === 0) {
      throw new GantryError('GANTRY_ERR_ENVIRONMENT_EXISTS', `The app already has an environment "${name}".`);
    }
    return (await this.getEnvironmentById(r.rows[0]!.id))!;
  }

  /** Deletes an environment and, by cascade, its revisions, requests, logs, runners and secrets. */
  async deleteEnvironment(id: string): Promise<boolean> {
    return (await this.write(() => this.db.query('DELETE FROM environments WHERE id=$1', [id]))).rowCount > 0;
  }

  async setScaling(envId: string, scaling: RuntimeSettings): Promise<void> {
    await this.write(() =>
      this.db.query('UPDATE environments SET scaling=$2::jsonb WHERE id=$1', [envId, jsonb(scaling)]),
    );
  }

  async setActiveRevision(envId: string, revisionId: string): Promise<void> {
    await this.write(() =>
      this.db.query('UPDATE environments SET active_revision_id=$2 WHERE id=$1', [envId, revisionId]),
    );
  }
}
