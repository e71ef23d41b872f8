/**
 * Secrets of an environment: sealed before they reach the store, opened only to start a runner.
 * There is no fallback between environments: a runner gets exactly its own environment's secrets.
 * No message here ever includes a value.
 */
import { createHmac } from 'node:crypto';
import { GantryError } from '../../../contract/src/errors.ts';
import type { Store } from '../store/store.ts';
import type { SecretBox } from './secret-box.ts';
import type { SecretRefs, SecretsManagerMirror } from './secrets-manager.ts';

/**
 * The mirror's name for an environment's runner key: not an environment variable name (it has a
 * `-`), so no secret a user sets can take it.
 */
export const RUNNER_KEY_SECRET = 'gantry-runner-key';

/** What a runner task on ECS gets by reference instead of values. */
export interface SecretReferences {
  /** The app's secrets: variable name → valueFrom. */
  app: SecretRefs;
  /** The key that opens the runner's sealed token: its value (for sealing) and its valueFrom. */
  runnerKey: { value: string; valueFrom: string };
}

/** An environment variable name. */
const SECRET_NAME = /^[A-Za-z_][A-Za-z0-9_]{0,127}$/;
/** Names the runner and the app process own; a secret must not shadow them. */
const RESERVED = /^(GANTRY_.*|PORT)$/;
const MAX_VALUE_BYTES = 64 * 1024;

export function checkSecretName(name: string): void {
  if (!SECRET_NAME.test(name)) {
    throw new GantryError(
      'GANTRY_ERR_VALIDATION',
      `Secret name "${name.slice(0, 140)}" is not an environment variable name (letters, digits and _, not starting with a digit).`,
    );
  }
  if (RESERVED.test(name)) {
    throw new GantryError(
      'GANTRY_ERR_VALIDATION',
      `Secret name ${name} is reserved for Gantry (GANTRY_* and PORT).`,
    );
  }
}

export class EnvironmentSecrets {
  constructor(
    private readonly store: Store,
    private readonly box: SecretBox,
    /** Set with ECS compute: values are mirrored there and runners get references. */
    private readonly mirror?: SecretsManagerMirror,
  ) {}

  /** Sets several at once: all are checked before any is stored. */
  async set(envId: string, values: Record<string, string>): Promise<string[]> {
    const names = Object.keys(values);
    if (names.length === 0)
      throw new GantryError('GANTRY_ERR_VALIDATION', 'Give at least one secret to set.');
    for (const name of names) {
      checkSecretName(name);
      if (Buffer.byteLength(values[name]!, 'utf8') > MAX_VALUE_BYTES) {
        throw new GantryError(
          'GANTRY_ERR_VALIDATION',
          `Secret ${name} is longer than ${MAX_VALUE_BYTES} bytes.`,
        );
      }
    }
    await this.store.secrets.put(
      envId,
      names.map((name) => ({ name, value: this.box.seal(envId, name, values[name]!) })),
    );
    // Written now so a mistake in the AWS setup shows at once; every start writes again what differs.
    await this.mirror?.sync(envId, values);
    return names.sort();
  }

  list(envId: string): Promise<{ name: string; updated_at: number }[]> {
    return this.store.secrets.list(envId);
  }

  /** Removes secrets; refuses (removing none) when one of the names is not set. */
  async unset(envId: string, envName: string, names: string[]): Promise<string[]> {
    const have = new Set((await this.store.secrets.list(envId)).map((s) => s.name));
    const missing = names.filter((n) => !have.has(n));
    if (missing.length > 0) {
      throw new GantryError(
        'GANTRY_ERR_SECRET_NOT_FOUND',
        `Environment ${envName} has no secret ${missing.join(', ')} (it has: ${[...have].join(', ') || 'none'}).`,
      );
    }
    // Secrets Manager first: should it fail, the store still lists the names and a retry finds them.
    await this.mirror?.remove(envId, names);
    return this.store.secrets.delete(envId, names);
  }

  /**
   * Before an environment is deleted: its copies in Secrets Manager, the runner key included, are
   * deleted at once (no recovery window, nothing left billed). The store's rows go with the
   * environment's. Called before the rows are deleted, so a failure leaves a deletion to retry.
   */
  async removeAll(envId: string): Promise<void> {
    if (!this.mirror) return;
    const names = (await this.store.secrets.list(envId)).map((s) => s.name);
    await this.mirror.remove(envId, [...names, RUNNER_KEY_SECRET]);
  }

  /** The decrypted variables for a runner of this environment. */
  async envFor(envId: string): Promise<Record<string, string>> {
    const out: Record<string, string> = {};
    for (const s of await this.store.secrets.sealed(envId))
      out[s.name] = this.box.open(envId, s.name, s.value);
    return out;
  }

  /**
   * For a runner on ECS: the environment's secrets written to Secrets Manager (where they differ)
   * and named by reference, with the runner key (derived from the master key, so nothing new is
   * stored) beside them.
   */
  async referencesFor(envId: string): Promise<SecretReferences> {
    if (!this.mirror) throw new Error('secrets by reference need the Secrets Manager mirror (ECS compute)');
    const runnerKey = createHmac('sha256', this.box.current.key)
      .update(`gantry runner key\0${envId}`)
      .digest('base64url');
    const refs = await this.mirror.sync(envId, {
      ...(await this.envFor(envId)),
      [RUNNER_KEY_SECRET]: runnerKey,
    });
    const { [RUNNER_KEY_SECRET]: keyRef, ...app } = refs;
    return { app, runnerKey: { value: runnerKey, valueFrom: keyRef! } };
  }

  /** Seals again, under the current key, every value sealed under an earlier one (after a rotation). */
  async reseal(): Promise<number> {
    let n = 0;
    for (const envId of await this.store.secrets.environmentsWithSecrets()) {
      const stale = (await this.store.secrets.sealed(envId)).filter((s) => this.box.isStale(s.value));
      if (stale.length === 0) continue;
      await this.store.secrets.put(
        envId,
        stale.map((s) => ({
          name: s.name,
          value: this.box.seal(envId, s.name, this.box.open(envId, s.name, s.value)),
        })),
        // A re-seal is not a change of the value: `secrets list` keeps showing when it was set.
        { keepUpdatedAt: true },
      );
      n += stale.length;
    }
    return n;
  }
}
