/**
 * fal_webhook: on completion control POSTs fal's body, signed as fal signs it (Ed25519 over
 * request id, user id, timestamp and the body's sha256), verifiable with control's JWKS; a failed
 * delivery is retried; a request gets one successful delivery, never a second.
 */
import { createServer, type Server } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { verifyWebhook } from '../../control/index.ts';
import { eventually, startTestControl, type TestControl } from '../support/control.ts';
import { FAULTY_APP, submit } from '../support/requests.ts';

interface Delivery {
  headers: Record<string, string | undefined>;
  body: string;
  answered: number;
}

let control: TestControl;
let receiver: Server;
let receiverUrl: string;
const deliveries: Delivery[] = [];
/** Status codes the receiver answers, in turn (then 200). */
const answers: number[] = [];

beforeAll(async () => {
  receiver = createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => {
      body += c.toString('utf8');
    });
    req.on('end', () => {
      const answered = answers.shift() ?? 200;
      deliveries.push({ headers: req.headers as Record<string, string | undefined>, body, answered });
      res.writeHead(answered).end();
    });
  });
  await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', () => resolve()));
  receiverUrl = `http://127.0.0.1:${(receiver.address() as { port: number }).port}/hook`;
  control = await startTestControl({ env: { GANTRY_WEBHOOK_ALLOW_PRIVATE: 'true' } });
  await control.deploy({ name: 'hooked', command: FAULTY_APP, scaling: { keep_alive: 30 } });
});

afterAll(async () => {
  await control?.close();
  await new Promise<void>((resolve) => receiver.close(() => resolve()));
});

const forRequest = (id: string) => deliveries.filter((d) => JSON.parse(d.body).request_id === id);

describe('fal_webhook', () => {
  it('POSTs fal’s body, signed and verifiable with control’s JWKS, once', async () => {
    const id = await submit(
      control.url,
      'hooked',
      { name: 'Ada' },
      {},
      `?fal_webhook=${encodeURIComponent(receiverUrl)}`,
    );
    const [d] = await eventually(async () => (forRequest(id).length > 0 ? forRequest(id) : undefined));
    expect(JSON.parse(d!.body)).toMatchObject({
      request_id: id,
      gateway_request_id: id,
      status: 'OK',
      payload: { message: 'Hello, Ada!' },
    });
    const jwks = (await (await fetch(`${control.url}/.well-known/jwks.json`)).json()) as {
      keys: { x: string }[];
    };
    expect(jwks.keys[0]).toMatchObject({ kty: 'OKP', crv: 'Ed25519' });
    expect(d!.headers['x-fal-webhook-request-id']).toBe(id);
    expect(d!.headers['x-fal-webhook-user-id']).toBe('test');
    expect(verifyWebhook(jwks, d!.headers, d!.body)).toBe(true);
    expect(verifyWebhook(jwks, d!.headers, d!.body.replace('Ada', 'Eve'))).toBe(false);
    // Nothing more comes for it: one completion, one delivery.
    await new Promise((r) => setTimeout(r, 1500));
    expect(forRequest(id)).toHaveLength(1);
  });

  it('an app error is delivered as status ERROR with the error and payload', async () => {
    const id = await submit(
      control.url,
      'hooked',
      { status: 422 },
      {},
      `?fal_webhook=${encodeURIComponent(receiverUrl)}`,
    );
    const [d] = await eventually(async () => (forRequest(id).length > 0 ? forRequest(id) : undefined));
    expect(JSON.parse(d!.body)).toMatchObject({
      status: 'ERROR',
      error: 'asked for 422',
      payload: { detail: 'asked for 422' },
    });
  });

  it('a failed delivery is retried with backoff until the receiver takes it', async () => {
    answers.push(500);
    const id = await submit(
      control.url,
      'hooked',
      { name: 'Retry' },
      {},
      `?fal_webhook=${encodeURIComponent(receiverUrl)}`,
    );
    const got = await eventually(
      async () => (forRequest(id).some((d) => d.answered === 200) ? forRequest(id) : undefined),
      20_000,
      'a successful redelivery',
    );
    expect(got.map((d) => d.answered)).toEqual([500, 200]);
  });

  it('refuses a webhook URL on a private address unless allowed', async () => {
    const strict = await startTestControl();
    try {
      await strict.deploy({ name: 'strict', command: FAULTY_APP });
      const res = await fetch(
        `${strict.url}/queue/test/strict?fal_webhook=${encodeURIComponent('http://127.0.0.1:9/x')}`,
        {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: '{}',
        },
      );
      expect(res.status).toBe(400);
      expect(await res.json()).toMatchObject({ code: 'GANTRY_ERR_BAD_WEBHOOK_URL' });
    } finally {
      await strict.close();
    }
  });
});
