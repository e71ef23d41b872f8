/**
 * Signs webhooks the way fal does, so a receiver written for fal verifies Gantry's unchanged:
 * an Ed25519 signature, hex-encoded in `X-Fal-Webhook-Signature`, over the lines
 * `<request id>\n<user id>\n<unix timestamp>\n<hex sha256 of the body>`, with the request id, user
 * id and timestamp in `X-Fal-Webhook-Request-Id`, `-User-Id` and `-Timestamp`. The public key is
 * served as a JWKS at `/.well-known/jwks.json`.
 *
 * The private key comes from a setting, or is generated at first start into the data dir (0600)
 * and kept, so receivers' cached keys stay valid across restarts.
 */
import {
  createHash,
  createPrivateKey,
  createPublicKey,
  generateKeyPairSync,
  type KeyObject,
  sign,
  verify,
} from 'node:crypto';
import { chmod, mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';

export const WEBHOOK_HEADERS = {
  requestId: 'x-fal-webhook-request-id',
  userId: 'x-fal-webhook-user-id',
  timestamp: 'x-fal-webhook-timestamp',
  signature: 'x-fal-webhook-signature',
} as const;

export interface Jwk {
  kty: 'OKP';
  crv: 'Ed25519';
  x: string;
  kid: string;
  use: 'sig';
  alg: 'EdDSA';
}

/** The bytes fal signs for a delivery. */
export function signedMessage(requestId: string, userId: string, timestamp: string, body: string): Buffer {
  const digest = createHash('sha256').update(body).digest('hex');
  return Buffer.from([requestId, userId, timestamp, digest].join('\n'), 'utf8');
}

export class WebhookSigner {
  readonly publicKey: KeyObject;
  readonly jwk: Jwk;

  constructor(private readonly privateKey: KeyObject) {
    if (privateKey.asymmetricKeyType !== 'ed25519') throw new Error('the webhook key must be Ed25519');
    this.publicKey = createPublicKey(privateKey);
    const x = (this.publicKey.export({ format: 'jwk' }) as { x: string }).x;
    const kid = createHash('sha256').update(x).digest('base64url').slice(0, 16);
    this.jwk = { kty: 'OKP', crv: 'Ed25519', x, kid, use: 'sig', alg: 'EdDSA' };
  }

  /** The headers of one delivery of `body` (the exact bytes sent). */
  headers(requestId: string, userId: string, body: string, now = Date.now()): Record<string, string> {
    const timestamp = String(Math.floor(now / 1000));
    const signature = sign(null, signedMessage(requestId, userId, timestamp, body), this.privateKey);
    return {
      [WEBHOOK_HEADERS.requestId]: requestId,
      [WEBHOOK_HEADERS.userId]: userId,
      [WEBHOOK_HEADERS.timestamp]: timestamp,
      [WEBHOOK_HEADERS.signature]: signature.toString('hex'),
    };
  }

  jwks(): { keys: Jwk[] } {
    return { keys: [this.jwk] };
  }
}

/** What a receiver does (fal's documented check), for tests and for users' reference. */
export function verifyWebhook(
  jwks: { keys: { x: string }[] },
  headers: Record<string, string | undefined>,
  body: string,
  now = Date.now(),
  toleranceS = 300,
): boolean {
  const requestId = headers[WEBHOOK_HEADERS.requestId];
  const userId = headers[WEBHOOK_HEADERS.userId];
  const timestamp = headers[WEBHOOK_HEADERS.timestamp];
  const signature = headers[WEBHOOK_HEADERS.signature];
  if (!requestId || !userId || !timestamp || !signature) return false;
  if (Math.abs(now / 1000 - Number(timestamp)) > toleranceS) return false;
  const message = signedMessage(requestId, userId, timestamp, body);
  return jwks.keys.some((k) => {
    const key = createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: k.x }, format: 'jwk' });
    return verify(null, message, key, Buffer.from(signature, 'hex'));
  });
}

/** The signer from the setting's PEM, or from `<data dir>/webhook-ed25519.pem`, made on first use. */
export async function loadWebhookSigner(dataDir: string, pem: string | undefined): Promise<WebhookSigner> {
  if (pem) return new WebhookSigner(createPrivateKey(pem));
  const file = path.join(dataDir, 'webhook-ed25519.pem');
  try {
    return new WebhookSigner(createPrivateKey(await readFile(file, 'utf8')));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  const { privateKey } = generateKeyPairSync('ed25519');
  await mkdir(dataDir, { recursive: true });
  await writeFile(file, privateKey.export({ format: 'pem', type: 'pkcs8' }), {
    mode: 0o600,
    flag: 'wx',
  }).catch((err: NodeJS.ErrnoException) => {
    // Another control process made it first: use theirs.
    if (err.code !== 'EEXIST') throw err;
  });
  await chmod(file, 0o600);
  return new WebhookSigner(createPrivateKey(await readFile(file, 'utf8')));
}
