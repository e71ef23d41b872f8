/**
 * Retention as a caller sees it: once GANTRY_RETENTION has passed, a request's result and an
 * output file answer 410 with their codes, and the sweep has removed the request's logs; an
 * environment's own retention setting outlasts control's.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually, startTestControl, type TestControl } from '../support/control.ts';

let control: TestControl;

beforeAll(async () => {
  control = await startTestControl({ env: { GANTRY_RETENTION: '1' } });
  await control.deploy({ name: 'hello', scaling: { keep_alive: 30 } });
}, 180_000);

afterAll(async () => {
  await control?.close();
});

describe('retention', () => {
  it("answers 410 for a request's result and for an output file once they are past retention", async () => {
    const sub = (await (
      await fetch(`${control.url}/queue/test/hello/image`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ name: 'Ada' }),
      })
    ).json()) as { request_id: string; response_url: string };
    const result = await eventually(async () => {
      const r = await fetch(sub.response_url);
      return r.status === 200 ? ((await r.json()) as { image: { url: string } }) : undefined;
    });
    expect((await fetch(result.image.url)).status).toBe(200);

    const expired = await eventually(async () => {
      await control.service.sweepRetention();
      const r = await fetch(sub.response_url);
      return r.status === 410 ? ((await r.json()) as { code: string }) : undefined;
    });
    expect(expired.code).toBe('GANTRY_ERR_REQUEST_EXPIRED');
    // A file URL's expiry is whole seconds, rounded up: it may outlive its request by under a second.
    const file = await eventually(async () => {
      const r = await fetch(result.image.url);
      return r.status === 200 ? undefined : r;
    });
    expect(file.status).toBe(410);
    expect(((await file.json()) as { code: string }).code).toBe('GANTRY_ERR_FILE_EXPIRED');
    const logs = await control.admin(`/queue/test/hello/requests/${sub.request_id}/status?logs=1`);
    expect(((await logs.json()) as { logs: unknown[] }).logs).toEqual([]);
  });

  it("an environment's own retention setting outlasts control's for the output files its app stores", async () => {
    const patched = await control.admin('/v1/apps/test/hello/environments/production/scaling', {
      method: 'PATCH',
      body: { retention: 3600 },
    });
    expect(patched.status).toBe(200);
    const res = await fetch(`${control.url}/run/test/hello/image`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'Grace' }),
    });
    expect(res.status).toBe(200);
    const { image } = (await res.json()) as { image: { url: string } };
    // Signed for the environment's hour, not control's one second.
    const exp = Number(new URL(image.url).searchParams.get('exp'));
    expect(exp * 1000 - Date.now()).toBeGreaterThan(3000_000);
    await control.service.sweepRetention();
    expect((await fetch(image.url)).status).toBe(200);
  });
});
