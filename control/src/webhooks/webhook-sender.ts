/**
 * Delivers `fal_webhook` notifications: fal's body (`request_id`, `gateway_request_id`, `status`
 * OK|ERROR, `payload`, `error` when failed), signed (webhook-signer.ts), with a 15 s timeout per
 * delivery and retries with backoff for up to two hours, as fal does.
 *
 * Deliveries are rows in the store, written in the same statement that completes the request, so
 * a restart of control picks up whatever was not delivered yet, and a request can never get a
 * second webhook (one row per request). A delivery is taken under a short lease so control
 * processes sharing a database do not send it twice at once; a crash mid-POST may repeat it,
 * which receivers tell apart by `request_id`.
 */
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { FastifyBaseLogger } from 'fastify';
import type { Store } from '../store/store.ts';
import type { DueWebhook } from '../store/webhooks-store.ts';
import type { WebhookSigner } from './webhook-signer.ts';
import { checkWebhookUrl, publicOnlyLookup } from './webhook-url.ts';

/** Delays before each retry: ten retries, about two hours in all (fal's policy). */
export const RETRY_DELAYS_MS = [1, 5, 15, 30, 60, 120, 300, 900, 1800, 3600].map((s) => s * 1000);
export const DELIVERY_TIMEOUT_MS = 15_000;
const BATCH = 20;

export interface WebhookSenderOptions {
  store: Store;
  signer: WebhookSigner;
  log: FastifyBaseLogger;
  allowPrivate: boolean;
  fetch?: typeof globalThis.fetch;
  pollMs?: number;
  clock?: () => number;
}

/** fal's webhook body for a completed request. */
export function webhookBody(
  d: Pick<DueWebhook, 'request_id' | 'result_status' | 'result_body' | 'error'>,
): string {
  const ok = d.error === null && d.result_status !== null && d.result_status < 400;
  return JSON.stringify({
    request_id: d.request_id,
    gateway_request_id: d.request_id,
    status: ok ? 'OK' : 'ERROR',
    payload: d.result_body ?? null,
    ...(ok ? {} : { error: d.error ?? `Request failed with HTTP ${d.result_status}` }),
  });
}

export class WebhookSender {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private again = false;
  private closed = false;

  constructor(private readonly o: WebhookSenderOptions) {}

  private now(): number {
    return (this.o.clock ?? Date.now)();
  }

  start(): void {
    this.schedule(0);
  }

  /** A request completed: deliver without waiting for the next poll. */
  wake(): void {
    if (this.closed) return;
    if (this.running) this.again = true;
    else this.schedule(0);
  }

  async stop(): Promise<void> {
    this.closed = true;
    clearTimeout(this.timer);
    await this.running;
  }

  private schedule(ms: number): void {
    if (this.closed) return;
    clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.running = this.runOnce()
        .catch((err: unknown) => this.o.log.error({ err }, 'webhook delivery round failed'))
        .finally(() => {
          this.running = undefined;
          const more = this.again;
          this.again = false;
          this.schedule(more ? 0 : (this.o.pollMs ?? 1000));
        });
    }, ms);
    this.timer.unref();
  }

  private async runOnce(): Promise<void> {
    for (;;) {
      const due = await this.o.store.webhooks.takeDue(BATCH, DELIVERY_TIMEOUT_MS + 5_000);
      await Promise.all(due.map((d) => this.deliver(d)));
      if (due.length < BATCH || this.closed) return;
    }
  }

  private async deliver(d: DueWebhook): Promise<void> {
    const body = webhookBody(d);
    let error: string;
    try {
      await checkWebhookUrl(d.url, { allowPrivate: this.o.allowPrivate });
      const headers = {
        'content-type': 'application/json',
        ...this.o.signer.headers(d.request_id, d.owner, body, this.now()),
      };
      let status: number;
      if (this.o.fetch) {
        const res = await this.o.fetch(d.url, {
          method: 'POST',
          headers,
          body,
          signal: AbortSignal.timeout(DELIVERY_TIMEOUT_MS),
          redirect: 'manual',
        });
        await res.arrayBuffer().catch(() => undefined);
        status = res.status;
      } else {
        status = await postOnce(d.url, body, headers, this.o.allowPrivate);
      }
      if (status >= 200 && status < 300) {
        await this.o.store.webhooks.delivered(d.request_id);
        return;
      }
      error = `the receiver answered HTTP ${status}`;
    } catch (err) {
      error = err instanceof Error ? err.message : String(err);
    }
    const delay = RETRY_DELAYS_MS[d.attempts];
    const next = delay === undefined ? null : this.now() + delay;
    this.o.log.warn(
      { request_id: d.request_id, attempt: d.attempts + 1, error, retry: next !== null },
      'webhook delivery failed',
    );
    await this.o.store.webhooks.failed(d.request_id, error, next);
  }
}

/**
 * One POST, no redirects followed, within the delivery timeout. Unless private addresses are
 * allowed, the connection goes only to an address publicOnlyLookup accepted (see there).
 */
function postOnce(
  url: string,
  body: string,
  headers: Record<string, string>,
  allowPrivate: boolean,
): Promise<number> {
  return new Promise((resolve, reject) => {
    const target = new URL(url);
    const send = target.protocol === 'https:' ? httpsRequest : httpRequest;
    const req = send(
      target,
      {
        method: 'POST',
        headers: { ...headers, 'content-length': String(Buffer.byteLength(body)) },
        timeout: DELIVERY_TIMEOUT_MS,
        ...(allowPrivate ? {} : { lookup: publicOnlyLookup }),
      },
      (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
        res.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(new Error(`no answer within ${DELIVERY_TIMEOUT_MS / 1000} s`)));
    req.on('error', reject);
    req.end(body);
  });
}
