/**
 * How a runner's token reaches an ECS task without travelling in plain text: control seals it
 * (AES-256-GCM) under its environment's runner key and passes only the sealed form in RunTask's
 * overrides; the key reaches the runner container alone, by reference from Secrets Manager (the
 * task definition's `secrets`), and the runner opens the token at start. Whoever can read
 * DescribeTasks or CloudTrail sees a value that is useless without the key.
 */
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';

const NONCE_BYTES = 12;
const TAG_BYTES = 16;

/** base64url(nonce ‖ ciphertext ‖ tag); `key` is 32 bytes in base64url. */
export function sealRunnerToken(key: string, runnerId: string, token: string): string {
  const nonce = randomBytes(NONCE_BYTES);
  const cipher = createCipheriv('aes-256-gcm', keyBytes(key), nonce);
  cipher.setAAD(Buffer.from(runnerId));
  return Buffer.concat([nonce, cipher.update(token, 'utf8'), cipher.final(), cipher.getAuthTag()]).toString(
    'base64url',
  );
}

/** The token, or an Error saying why not (a wrong key, another runner's token, a damaged value). */
export function openRunnerToken(key: string, runnerId: string, sealed: string): string {
  const body = Buffer.from(sealed, 'base64url');
  if (body.length < NONCE_BYTES + TAG_BYTES) throw new Error('the sealed runner token is too short');
  const decipher = createDecipheriv('aes-256-gcm', keyBytes(key), body.subarray(0, NONCE_BYTES));
  decipher.setAAD(Buffer.from(runnerId));
  decipher.setAuthTag(body.subarray(body.length - TAG_BYTES));
  try {
    return Buffer.concat([
      decipher.update(body.subarray(NONCE_BYTES, body.length - TAG_BYTES)),
      decipher.final(),
    ]).toString('utf8');
  } catch {
    throw new Error(
      'the sealed runner token does not open with this runner key (another environment or runner?)',
    );
  }
}

function keyBytes(key: string): Buffer {
  const bytes = Buffer.from(key, 'base64url');
  if (bytes.length !== 32) throw new Error('a runner key is 32 bytes in base64url');
  return bytes;
}
