/** API keys, held as hashes only. */
import type { SqlClient } from '../../../sql/src/sql-client.ts';
import type { Caller, KeyRecord, KeyScope } from '../domain.ts';

const KEY_COLS =
  'id, scope, owner, description, created_at, revoked_at, apps, environments, expires_at, rate_limit';

export class KeysStore {
  constructor(
    private readonly db: SqlClient,
    private readonly clock: () => number,
  ) {}

  /** Adds a key (only its hash). */
  async create(k: {
    id: string;
    keyHash: string;
    scope: KeyScope;
    owner: string | null;
    description: string;
    apps?: string[] | null;
    environments?: string[] | null;
    expires_at?: number | null;
    rate_limit?: number | null;
  }): Promise<KeyRecord> {
    const r = await this.db.query<KeyRecord>(
      `INSERT INTO api_keys (id, key_hash, scope, owner, description, created_at, apps, environments, expires_at, rate_limit)
       VALUES ($1,$2,$3,$4,$5,$6,$7::jsonb,$8::jsonb,$9,$10)
       RETURNING ${KEY_COLS}`,
      [
        k.id,
        k.keyHash,
        k.scope,
        k.owner,
        k.description,
        this.clock(),
        k.apps ? JSON.stringify(k.apps) : null,
        k.environments ? JSON.stringify(k.environments) : null,
        k.expires_at ?? null,
        k.rate_limit ?? null,
      ],
    );
    return r.rows[0]!;
  }

  /** A key that is not revoked, by id. */
  async get(id: string): Promise<KeyRecord | undefined> {
    const r = await this.db.query<KeyRecord>(
      `SELECT ${KEY_COLS} FROM api_keys WHERE id=$1 AND revoked_at IS NULL`,
      [id],
    );
    return r.rows[0];
  }

  /** Keys not revoked, with how many requests each made (usage of shared and private apps). */
  async list(): Promise<(KeyRecord & { requests: number; last_used_at: number | null })[]> {
    const r = await this.db.query<KeyRecord & { requests: number; last_used_at: number | null }>(
      `SELECT k.id, k.scope, k.owner, k.description, k.created_at, k.revoked_at, k.apps,
              k.environments, k.expires_at, k.rate_limit, COUNT(q.id)::int AS requests, MAX(q.created_at) AS last_used_at
       FROM api_keys k LEFT JOIN requests q ON q.key_id = k.id
       WHERE k.revoked_at IS NULL GROUP BY k.id ORDER BY k.created_at, k.id`,
    );
    return r.rows.map((k) => ({ ...k, requests: Number(k.requests) }));
  }

  async revoke(id: string): Promise<boolean> {
    const r = await this.db.query('UPDATE api_keys SET revoked_at=$2 WHERE id=$1 AND revoked_at IS NULL', [
      id,
      this.clock(),
    ]);
    return r.rowCount > 0;
  }

  /**
   * Revokes the in-process keys of an extension (`<name>@<control id>`) held by control processes
   * that are gone, and its key from before control had replicas (`<name>`); `keep` stays.
   */
  async revokeStaleInstanceKeys(name: string, keep: string, aliveSince: number): Promise<void> {
    await this.db.query(
      `UPDATE api_keys SET revoked_at=$4 WHERE revoked_at IS NULL AND id <> $2 AND (id = $1 OR
         (starts_with(id, $1 || '@') AND substr(id, length($1) + 2) NOT IN
           (SELECT id FROM controls WHERE seen_at >= $3)))`,
      [name, keep, aliveSince, this.clock()],
    );
  }

  async put(id: string, keyHash: string, scope: string, description: string): Promise<void> {
    await this.db.query(
      `INSERT INTO api_keys (id, key_hash, scope, description, created_at) VALUES ($1,$2,$3,$4,$5)
       ON CONFLICT (id) DO UPDATE SET key_hash=EXCLUDED.key_hash, revoked_at=NULL`,
      [id, keyHash, scope, description, this.clock()],
    );
  }

  async find(keyHash: string): Promise<Caller | undefined> {
    const r = await this.db.query<Caller>(
      `SELECT id, scope, owner, apps, environments, expires_at, rate_limit
       FROM api_keys WHERE key_hash=$1 AND revoked_at IS NULL`,
      [keyHash],
    );
    return r.rows[0];
  }
}
