/**
 * Encryption of secrets at rest: AES-256-GCM, a fresh random 96-bit nonce per value, and the
 * environment id and the secret's name as additional authenticated data, so a stored value copied
 * onto another environment or name fails to decrypt instead of leaking there. Each sealed value
 * names the key that sealed it; the box holds the current key (for sealing) and any earlier ones
 * (for opening), which is what lets the master key rotate without a flag day.
 */
import { createCipheriv, createDecipheriv, createHash, randomBytes } from 'node:crypto';

export interface SealedValue {
  key_id: string;
  /** base64 of the 12-byte nonce. */
  nonce: string;
  /** base64 of the ciphertext followed by the 16-byte GCM tag. */
  ciphertext: string;
}

export interface MasterKey {
  id: string;
  key: Buffer;
}

const NONCE_BYTES = 12;
const TAG_BYTES = 16;

/** A key's id when none is given: a short fingerprint, stable for the same bytes. */
export const keyFingerprint = (key: Buffer) =>
  `k-${createHash('sha256').update(key).digest('hex').slice(0, 12)}`;

/** Parses a base64 master key; the message never repeats the value. */
export function parseMasterKey(raw: string, what: string): Buffer {
  const key = Buffer.from(raw.trim(), 'base64');
  if (key.length !== 32 || key.toString('base64').replace(/=+$/, '') !== raw.trim().replace(/=+$/, '')) {
    throw new Error(`${what} must be 32 random bytes in base64 (e.g. \`openssl rand -base64 32\`)`);
  }
  return key;
}

const aad = (environmentId: string, name: string) => Buffer.from(`${environmentId}\0${name}`, 'utf8');

export class SecretBox {
  private readonly keys = new Map<string, Buffer>();

  constructor(
    readonly current: MasterKey,
    previous: MasterKey[] = [],
  ) {
    for (const k of [...previous, current]) {
      if (k.key.length !== 32) throw new Error(`master key ${k.id} is not 32 bytes`);
      this.keys.set(k.id, k.key);
    }
  }

  seal(environmentId: string, name: string, value: string): SealedValue {
    const nonce = randomBytes(NONCE_BYTES);
    const cipher = createCipheriv('aes-256-gcm', this.current.key, nonce);
    cipher.setAAD(aad(environmentId, name));
    const body = Buffer.concat([cipher.update(value, 'utf8'), cipher.final(), cipher.getAuthTag()]);
    return { key_id: this.current.id, nonce: nonce.toString('base64'), ciphertext: body.toString('base64') };
  }

  open(environmentId: string, name: string, sealed: SealedValue): string {
    const key = this.keys.get(sealed.key_id);
    if (!key) {
      throw new Error(
        `secret ${name} is sealed with master key ${sealed.key_id}, which control does not have ` +
          '(add it to GANTRY_SECRETS_OLD_KEYS)',
      );
    }
    const body = Buffer.from(sealed.ciphertext, 'base64');
    const decipher = createDecipheriv('aes-256-gcm', key, Buffer.from(sealed.nonce, 'base64'));
    decipher.setAAD(aad(environmentId, name));
    decipher.setAuthTag(body.subarray(body.length - TAG_BYTES));
    try {
      return Buffer.concat([
        decipher.update(body.subarray(0, body.length - TAG_BYTES)),
        decipher.final(),
      ]).toString('utf8');
    } catch {
      // GCM refuses a value that was altered, moved to another environment or name, or sealed
      // under other key bytes with the same id; say which secret, never anything of its value.
      throw new Error(`secret ${name} does not authenticate under master key ${sealed.key_id}`);
    }
  }

  /** Whether a value was sealed under an earlier key (and should be sealed again). */
  isStale(sealed: SealedValue): boolean {
    return sealed.key_id !== this.current.id;
  }
}
