/**
 * `Idempotency-Key` on the fal routes that make a request (the queue submit and the sync run): the
 * same key with the same submit answers with the request the first one made, for
 * IDEMPOTENCY_KEY_TTL_MS, so a client retrying a call cut off by a crash or a timeout does not run
 * the work twice. The same key with another submit is refused, whichever route it came through.
 */
import { createHash } from 'node:crypto';
import type { FastifyRequest } from 'fastify';
import { GantryError } from '../../../contract/src/errors.ts';
import type { RequestRecord } from '../domain.ts';
import { IdempotencyKeyTaken } from '../store/idempotency-store.ts';
import type { Store } from '../store/store.ts';

export interface IdempotencyClaim {
  key: string;
  fingerprint: string;
}

/** The call's `Idempotency-Key` header, checked: 1–255 printable ASCII characters. */
export function idempotencyKey(headers: FastifyRequest['headers']): string | undefined {
  const raw = headers['idempotency-key'];
  if (raw === undefined) return undefined;
  const key = Array.isArray(raw) ? raw[0] : raw;
  if (typeof key !== 'string' || !/^[\x21-\x7e]{1,255}$/.test(key)) {
    throw new GantryError(
      'GANTRY_ERR_VALIDATION',
      'Idempotency-Key must be 1 to 255 printable ASCII characters without spaces (a UUID, say).',
    );
  }
  return key;
}

/** What makes two submits the same: every setting that changes what runs or who hears of it, and the body. */
export function submitFingerprint(settings: unknown[], body: Buffer): string {
  return createHash('sha256').update(JSON.stringify(settings)).update(body).digest('hex');
}

/**
 * Submits once per key: the live request this key made if the submit is the same, else
 * GANTRY_ERR_IDEMPOTENCY_KEY_REUSED; a race between two first submits is won by one, and the
 * other answers with the winner's request.
 */
export async function submitOnce(
  store: Store,
  environmentId: string,
  claim: IdempotencyClaim,
  submit: (claim: IdempotencyClaim) => Promise<RequestRecord>,
): Promise<RequestRecord> {
  const earlier = async () => {
    const found = await store.idempotency.find(environmentId, claim.key);
    if (!found) return undefined;
    if (found.fingerprint !== claim.fingerprint) {
      throw new GantryError(
        'GANTRY_ERR_IDEMPOTENCY_KEY_REUSED',
        `Idempotency-Key "${claim.key}" was used within 24 hours for request ${found.requestId}, with another route, path, body or priority. Use a new key for a new submit.`,
      );
    }
    return store.requests.get(found.requestId);
  };
  const before = await earlier();
  if (before) return before;
  try {
    return await submit(claim);
  } catch (err) {
    if (!(err instanceof IdempotencyKeyTaken)) throw err;
    const winner = await earlier();
    if (!winner) throw err;
    return winner;
  }
}
