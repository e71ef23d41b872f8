/**
 * Where the secrets master key comes from: GANTRY_SECRETS_KEY when set (production: from a secret
 * manager); otherwise `<data dir>/secrets.key`, generated at first start with mode 0600, the way
 * admin.key is. Earlier keys, for values sealed before a rotation, come from GANTRY_SECRETS_OLD_KEYS.
 */
import { randomBytes } from 'node:crypto';
import { chmod, mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { keyFingerprint, type MasterKey, parseMasterKey, SecretBox } from './secret-box.ts';

export const SECRETS_KEY_FILE = 'secrets.key';

export interface MasterKeySettings {
  dataDir: string;
  secretsKey: string | undefined;
  secretsKeyId: string | undefined;
  secretsOldKeys: string | undefined;
}

/** `id:base64,id:base64` (base64 has no ':'); an entry without `id:` gets its fingerprint as id. */
export function parseOldKeys(raw: string | undefined): MasterKey[] {
  if (!raw) return [];
  return raw
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '')
    .map((entry, i) => {
      const colon = entry.indexOf(':');
      const id = colon > 0 ? entry.slice(0, colon) : undefined;
      const key = parseMasterKey(entry.slice(colon + 1), `GANTRY_SECRETS_OLD_KEYS entry ${i + 1}`);
      return { id: id ?? keyFingerprint(key), key };
    });
}

export async function openSecretBox(s: MasterKeySettings): Promise<SecretBox> {
  let key: Buffer;
  if (s.secretsKey) {
    key = parseMasterKey(s.secretsKey, 'GANTRY_SECRETS_KEY');
  } else {
    const file = path.join(s.dataDir, SECRETS_KEY_FILE);
    const existing = (await readFile(file, 'utf8').catch(() => '')).trim();
    if (existing) {
      key = parseMasterKey(existing, file);
    } else {
      key = randomBytes(32);
      await mkdir(s.dataDir, { recursive: true, mode: 0o700 });
      // 'wx': two processes starting at once must not each write (and use) a different key.
      await writeFile(file, `${key.toString('base64')}\n`, { mode: 0o600, flag: 'wx' }).catch(async (err) => {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
        key = parseMasterKey((await readFile(file, 'utf8')).trim(), file);
      });
      await chmod(file, 0o600);
    }
  }
  return new SecretBox({ id: s.secretsKeyId ?? keyFingerprint(key), key }, parseOldKeys(s.secretsOldKeys));
}
