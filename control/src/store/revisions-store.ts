/** Numbered revisions of an environment, and how each fared from its runners. */
import { randomUUID } from 'node:crypto';
import type { CodeSettings } from '../../../contract/src/scaling-settings.ts';
import type { SqlClient } from '../../../sql/src/sql-client.ts';
import type { Revision, RevisionHealth } from '../domain.ts';
import { jsonb } from './jsonb.ts';

export interface NewRevision {
  image?: string | null;
  command?: string[] | null;
  cwd?: string | null;
  settings: CodeSettings;
  commit_sha?: string | null;
  message?: string | null;
  annotations?: Record<string, unknown>;
  created_by?: string | null;
}

export class RevisionsStore {
  constructor(
    private readonly db: SqlClient,
    private readonly clock: () => number,
  ) {}

  /** Adds the next numbered revision of an environment. */
  async create(envId: string, rev: NewRevision): Promise<Revision> {
    return this.db.transaction(async (tx) => {
      // Serialise numbering per environment: lock the environment row.
      await tx.query('SELECT id FROM environments WHERE id=$1 FOR UPDATE', [envId]);
      const n = await tx.query<{ n: number }>(
        'SELECT COALESCE(MAX(number), 0) + 1 AS n FROM revisions WHERE environment_id=$1',
        [envId],
      );
      const r = await tx.query<Revision>(
        `INSERT INTO revisions (id, environment_id, number, image, command, cwd, settings, commit_sha, message,
           annotations, created_by, created_at)
         VALUES ($1,$2,$3,$4,$5::jsonb,$6,$7::jsonb,$8,$9,$10::jsonb,$11,$12) RETURNING *`,
        [
          randomUUID(),
          envId,
          Number(n.rows[0]!.n),
          rev.image ?? null,
          jsonb(rev.command ?? null),
          rev.cwd ?? null,
          jsonb(rev.settings),
          rev.commit_sha ?? null,
          rev.message ?? null,
          jsonb(rev.annotations ?? {}),
          rev.created_by ?? null,
          this.clock(),
        ],
      );
      return r.rows[0]!;
    });
  }

  async get(id: string): Promise<Revision | undefined> {
    return (await this.db.query<Revision>('SELECT * FROM revisions WHERE id=$1', [id])).rows[0];
  }

  async getByNumber(envId: string, n: number): Promise<Revision | undefined> {
    const r = await this.db.query<Revision>('SELECT * FROM revisions WHERE environment_id=$1 AND number=$2', [
      envId,
      n,
    ]);
    return r.rows[0];
  }

  async list(envId: string): Promise<Revision[]> {
    return (
      await this.db.query<Revision>('SELECT * FROM revisions WHERE environment_id=$1 ORDER BY number DESC', [
        envId,
      ])
    ).rows;
  }

  async delete(id: string): Promise<boolean> {
    return (await this.db.query('DELETE FROM revisions WHERE id=$1', [id])).rowCount > 0;
  }

  /**
   * How each revision of the environment fared, from its runners: failed when runners crashed
   * before ever being ready and none of them ever was (the reason is the latest crash's detail).
   */
  async health(envId: string): Promise<Map<string, RevisionHealth>> {
    const r = await this.db.query<{
      revision_id: string;
      ever_ready: boolean;
      crashes: number;
      failure: string | null;
    }>(
      `SELECT revision_id,
              bool_or(ready_at IS NOT NULL) AS ever_ready,
              COUNT(*) FILTER (WHERE state='CRASH_BACKOFF')::int AS crashes,
              (array_agg(detail ORDER BY ended_at DESC) FILTER (WHERE state='CRASH_BACKOFF'))[1] AS failure
       FROM runners WHERE environment_id=$1 GROUP BY revision_id`,
      [envId],
    );
    const out = new Map<string, RevisionHealth>();
    for (const row of r.rows) {
      const failed = !row.ever_ready && Number(row.crashes) > 0;
      out.set(row.revision_id, {
        status: failed ? 'failed' : row.ever_ready ? 'ok' : 'not_started',
        failure: failed ? (row.failure ?? 'its runners crashed before becoming ready') : null,
      });
    }
    return out;
  }
}
