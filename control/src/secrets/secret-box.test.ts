import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { openSecretBox, parseOldKeys, SECRETS_KEY_FILE } from './master-key.ts';
import { keyFingerprint, parseMasterKey, SecretBox } from './secret-box.ts';

const key = () => ({ id: 'k1', key: randomBytes(32) });

describe('SecretBox', () => {
  it('round-trips a value; the sealed bytes never contain it and each seal uses a new nonce', () => {
    const box = new SecretBox(key());
    const a = box.seal('env-1', 'TOKEN', 'hunter2-hunter2');
    const b = box.seal('env-1', 'TOKEN', 'hunter2-hunter2');
    expect(a.key_id).toBe('k1');
    expect(Buffer.from(a.nonce, 'base64')).toHaveLength(12);
    expect(a.nonce).not.toBe(b.nonce);
    expect(Buffer.from(a.ciphertext, 'base64').includes('hunter2')).toBe(false);
    expect(JSON.stringify(a)).not.toContain('hunter2');
    expect(box.open('env-1', 'TOKEN', a)).toBe('hunter2-hunter2');
  });

  it('refuses a value moved to another environment or name, or altered, without telling the value', () => {
    const box = new SecretBox(key());
    const s = box.seal('env-1', 'TOKEN', 'v@lue');
    expect(() => box.open('env-2', 'TOKEN', s)).toThrow(/does not authenticate/);
    expect(() => box.open('env-1', 'OTHER', s)).toThrow(/does not authenticate/);
    const bytes = Buffer.from(s.ciphertext, 'base64');
    bytes[0]! ^= 1;
    expect(() => box.open('env-1', 'TOKEN', { ...s, ciphertext: bytes.toString('base64') })).toThrow(
      /does not authenticate/,
    );
  });

  it('opens values sealed under an earlier key after a rotation, and says which key is missing', () => {
    const old = key();
    const sealed = new SecretBox(old).seal('e', 'A', 'x');
    const rotated = new SecretBox({ id: 'k2', key: randomBytes(32) }, [old]);
    expect(rotated.open('e', 'A', sealed)).toBe('x');
    expect(rotated.isStale(sealed)).toBe(true);
    expect(rotated.seal('e', 'A', 'x').key_id).toBe('k2');
    expect(() => new SecretBox({ id: 'k2', key: randomBytes(32) }).open('e', 'A', sealed)).toThrow(
      /master key k1, which control does not have/,
    );
  });

  it('parses master keys and the old-keys list', () => {
    const raw = randomBytes(32).toString('base64');
    expect(parseMasterKey(raw, 'X')).toHaveLength(32);
    expect(() => parseMasterKey('c2hvcnQ=', 'GANTRY_SECRETS_KEY')).toThrow(
      /GANTRY_SECRETS_KEY must be 32 random bytes/,
    );
    const [a, b] = parseOldKeys(`old:${raw}, ${raw}`);
    expect(a!.id).toBe('old');
    expect(b!.id).toBe(keyFingerprint(Buffer.from(raw, 'base64')));
  });
});

describe('openSecretBox', () => {
  let dir: string | undefined;
  afterEach(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('generates <data dir>/secrets.key once, mode 0600, and reuses it', async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'gantry-secrets-'));
    const settings = {
      dataDir: dir,
      secretsKey: undefined,
      secretsKeyId: undefined,
      secretsOldKeys: undefined,
    };
    const first = await openSecretBox(settings);
    const file = path.join(dir, SECRETS_KEY_FILE);
    expect((await stat(file)).mode & 0o777).toBe(0o600);
    expect(Buffer.from((await readFile(file, 'utf8')).trim(), 'base64')).toHaveLength(32);
    const sealed = first.seal('e', 'A', 'v');
    expect((await openSecretBox(settings)).open('e', 'A', sealed)).toBe('v');
  });

  it('uses GANTRY_SECRETS_KEY and its id when set, writing no file', async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'gantry-secrets-'));
    const box = await openSecretBox({
      dataDir: dir,
      secretsKey: randomBytes(32).toString('base64'),
      secretsKeyId: 'prod-2025',
      secretsOldKeys: undefined,
    });
    expect(box.current.id).toBe('prod-2025');
    await expect(stat(path.join(dir, SECRETS_KEY_FILE))).rejects.toThrow();
  });
});
