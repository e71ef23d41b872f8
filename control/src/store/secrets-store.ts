/** Secrets of an environment, held sealed: this slice never sees a plain value. */
import type { SqlClient } from '../../../sql/src/sql-client.ts';
import type { SealedValue } from '../secrets/secret-box.ts';

export class SecretsStore {
  constructor(
    private readonly db: SqlClient,
    private readonly clock: () => number,
  ) {}

  /** Sets several secrets of one environment at once (all or none). Values arrive sealed. */
  async put(
    envId: string,
    sealed: { name: string; value: SealedValue }[],
    opts: { keepUpdatedAt?: boolean } = {},
  ): Promise<void> {
    const now = this.clock();
    await this.db.transaction(async (tx) => {
      for (const s of sealed) {
        await tx.query(
          `INSERT INTO secrets (environment_id, name, key_id, nonce, ciphertext, updated_at)
           VALUES ($1,$2,$3,$4,$5,$6)
           ON CONFLICT (environment_id, name) DO UPDATE SET key_id=EXCLUDED.key_id, nonce=EXCLUDED.nonce,
             ciphertext=EXCLUDED.ciphertext,
             updated_at=CASE WHEN $7 THEN secrets.updated_at ELSE EXCLUDED.updated_at END`,
          [
            envId,
            s.name,
            s.value.key_id,
            s.value.nonce,
            s.value.ciphertext,
            now,
            opts.keepUpdatedAt === true,
          ],
        );
      }
    });
  }

  async environmentsWithSecrets(): Promise<string[]> {
    const r = await this.db.query<{ environment_id: string }>('SELECT DISTINCT environment_id FROM secrets');
    return r.rows.map((x) => x.environment_id);
  }

  /** Names and change times only: listing never reads a value. */
  async list(envId: string): Promise<{ name: string; updated_at: number }[]> {
    const r = await this.db.query<{ name: string; updated_at: number }>(
      'SELECT name, updated_at FROM secrets WHERE environment_id=$1 ORDER BY name',
      [envId],
    );
    return r.rows;
  }

  /** Sealed values, for a runner's start (decrypted there, never returned by the API). */
  async sealed(envId: string): Promise<{ name: string; value: SealedValue }[]> {
    const r = await this.db.query<{ name: string } & SealedValue>(
      'SELECT name, key_id, nonce, ciphertext FROM secrets WHERE environment_id=$1 ORDER BY name',
      [envId],
    );
    return r.rows.map((x) => ({
      name: x.name,
      value: { key_id: x.key_id, nonce: x.nonce, ciphertext: x.ciphertext },
    }));
  }

  async delete(envId: string, names: string[]): Promise<string[]> {
    const r = await this.db.query<{ name: string }>(
      'DELETE FROM secrets WHERE environment_id=$1 AND name = ANY($2::text[]) RETURNING name',
      [envId, names],
    );
    return r.rows.map((x) => x.name);
  }
}
