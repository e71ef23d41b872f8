/** Images the Action registered, per repository and commit. */
import { randomUUID } from 'node:crypto';
import type { SqlClient } from '../../../sql/src/sql-client.ts';
import type { Build } from '../domain.ts';

export interface NewBuild {
  repository: string;
  commit_sha: string;
  ref: string | null;
  image: string;
  digest: string;
  content_hash: string | null;
  registered_by: string;
}

export class BuildsStore {
  constructor(
    private readonly db: SqlClient,
    private readonly clock: () => number,
  ) {}

  /**
   * Records a build. Idempotent: the same repository, commit and digest again returns the build
   * already held (`created: false`), so a re-run Action changes nothing.
   */
  async register(b: NewBuild): Promise<{ build: Build; created: boolean }> {
    const inserted = await this.db.query<Build>(
      `INSERT INTO builds (id, repository, commit_sha, ref, image, digest, content_hash, registered_by, created_at)
       VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9)
       ON CONFLICT (repository, commit_sha, digest) DO NOTHING RETURNING *`,
      [
        randomUUID(),
        b.repository,
        b.commit_sha,
        b.ref,
        b.image,
        b.digest,
        b.content_hash,
        b.registered_by,
        this.clock(),
      ],
    );
    if (inserted.rows[0]) return { build: inserted.rows[0], created: true };
    const existing = await this.db.query<Build>(
      'SELECT * FROM builds WHERE repository=$1 AND commit_sha=$2 AND digest=$3',
      [b.repository, b.commit_sha, b.digest],
    );
    return { build: existing.rows[0]!, created: false };
  }

  /** Builds of a repository, newest first; only those of one commit when `commitSha` is given. */
  async list(repository: string, commitSha?: string, limit = 100): Promise<Build[]> {
    const r =
      commitSha === undefined
        ? await this.db.query<Build>(
            'SELECT * FROM builds WHERE repository=$1 ORDER BY created_at DESC, id LIMIT $2',
            [repository, limit],
          )
        : await this.db.query<Build>(
            'SELECT * FROM builds WHERE repository=$1 AND commit_sha=$2 ORDER BY created_at DESC, id LIMIT $3',
            [repository, commitSha, limit],
          );
    return r.rows;
  }
}
