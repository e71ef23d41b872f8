/**
 * Exactly once over SQS: a message SQS hands out a second time while its first attempt still runs
 * (its visibility ran out: a claim that crossed a control crash took longer than the visibility,
 * or a heartbeat came late) must not start a second attempt. Control on PGlite, the SQS driver on
 * fauxqs, runners played by the test through the claim / heartbeat / result calls a runner that
 * polls SQS itself makes; visibilities are a second or two, so SQS redelivers for real.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PgliteClient } from '../../../sql/src/pglite-client.ts';
import { buildApp, type ControlService } from '../app.ts';
import { hashKey } from '../auth.ts';
import type { ComputeDriver } from '../compute/compute-driver.ts';
import { loadConfig } from '../config.ts';
import type { RunnerRecord } from '../domain.ts';
import { Store } from '../store/store.ts';
import { type LocalSqs, startLocalSqs } from '../testing/fauxqs.ts';
import type { Delivery } from './queue-driver.ts';
import { SqsQueue } from './sqs-queue.ts';

const APP_DIR = mkdtempSync(path.join(tmpdir(), 'gantry-app-'));
const KEY = 'gk_admin_sqs_second_delivery';
// Long enough that a loaded machine's slow heartbeat does not let the hold (two thirds of it) lapse.
const LEASE_S = 6;

class IdleCompute implements ComputeDriver {
  async start(): Promise<void> {}
  async stop(): Promise<void> {}
  async kill(): Promise<void> {}
  onExit(): void {}
  async close(): Promise<void> {}
}

let sqs: LocalSqs;
let svc: ControlService;
let store: Store;
let queue: SqsQueue;
let envId: string;
let revisionId: string;

beforeAll(async () => {
  sqs = await startLocalSqs();
  const db = await PgliteClient.open(undefined);
  store = new Store(db);
  await store.migrate();
  await store.keys.put('admin', hashKey(KEY), 'ADMIN', 'test');
  queue = new SqsQueue({ client: sqs.client(), prefix: 'gantry-second' });
  svc = await buildApp({
    config: loadConfig({ GANTRY_LOG_LEVEL: 'silent', GANTRY_LEASE_SECONDS: String(LEASE_S) }),
    store,
    queue,
    compute: new IdleCompute(),
  });
  const admin = { authorization: `Key ${KEY}` };
  const made = await svc.app.inject({
    method: 'POST',
    url: '/v1/apps',
    headers: admin,
    payload: { owner: 't', name: 'app', auth_mode: 'public' },
  });
  expect(made.statusCode).toBe(201);
  const rev = await svc.app.inject({
    method: 'POST',
    url: '/v1/apps/t/app/environments/production/revisions',
    headers: admin,
    payload: { command: ['app'], cwd: APP_DIR, activate: true, strategy: 'recreate' },
  });
  expect(rev.statusCode).toBe(201);
  const env = (await store.apps.getWithEnvironment('t', 'app', 'production'))!.env!;
  envId = env.id;
  revisionId = env.active_revision_id!;
}, 120_000);
afterAll(async () => {
  await svc?.close();
  await sqs?.stop();
});

async function runner(): Promise<RunnerRecord> {
  const r = await store.runners.create(envId, revisionId, hashKey(randomBytes(8).toString('hex')));
  await store.runners.setState(r.id, 'IDLE');
  return r;
}

async function submit(): Promise<string> {
  const sent = await svc.app.inject({ method: 'POST', url: '/queue/t/app', payload: { n: 1 } });
  expect(sent.statusCode).toBe(200);
  return sent.json().request_id as string;
}

/** The next delivery of the request, as a runner polling SQS gets it; visibility as given. */
async function receive(requestId: string, visibilitySeconds: number): Promise<Delivery> {
  for (let i = 0; i < 20; i++) {
    const got = await queue.receive(envId, { max: 1, visibilitySeconds, waitMs: 5_000 });
    const d = got.find((x) => x.message.request_id === requestId);
    if (d) return d;
  }
  throw new Error(`no delivery of ${requestId}`);
}

describe('a second SQS delivery of a request whose attempt still runs', () => {
  it('starts no second attempt; after the first attempt completes it is deleted', async () => {
    const id = await submit();
    const [r1, r2] = [await runner(), await runner()];
    // Runner 1 receives with a visibility shorter than its claim and first heartbeat take.
    const first = await receive(id, 1);
    const claim1 = await svc.requests.claim(r1, first.receipt, id);
    expect(claim1.job?.request_id).toBe(id);
    // Runner 1 is alive and at work: its heartbeats reach control (SQS's visibility lapses anyway).
    let beating = true;
    const beats = (async () => {
      while (beating) {
        await svc.requests.heartbeat(r1, [first.receipt], true);
        await new Promise((r) => setTimeout(r, 200));
      }
    })();
    try {
      const second = await receive(id, 1);
      expect(second.receiveCount).toBeGreaterThan(1);
      const claim2 = await svc.requests.claim(r2, second.receipt, id);
      // Today's bug: the second delivery read as a lost runner and started attempt 2.
      expect(claim2.job).toBeUndefined();
      expect(claim2.message).toBe('none');
      expect((await store.requests.get(id))?.attempts).toBe(1);
    } finally {
      beating = false;
      await beats;
    }
    const now = new Date().toISOString();
    const result = await svc.requests.recordResult(r1, {
      receipt: first.receipt,
      request_id: id,
      outcome: 'response',
      status_code: 200,
      body: { by: 'runner 1' },
      content_type: 'application/json',
      started_at: now,
      finished_at: now,
      direct: true,
    });
    expect(result.decision).toBe('completed');
    // The put-off message comes back once more: completed, so it goes.
    const third = await receive(id, 30);
    const claim3 = await svc.requests.claim(r2, third.receipt, id);
    expect(claim3).toMatchObject({ message: 'delete' });
    expect(claim3.job).toBeUndefined();
    const done = await store.requests.get(id);
    expect(done).toMatchObject({ status: 'COMPLETED', attempts: 1, result_status: 200 });
  }, 120_000);

  it('is retried once the hold lapses when the first claim never reached its runner', async () => {
    const id = await submit();
    const [r1, r2] = [await runner(), await runner()];
    const first = await receive(id, 30);
    // Control recorded the claim, and its answer died with it: runner 1 never runs the request
    // and hands the message back, as a runner does when its claim fails.
    expect((await svc.requests.claim(r1, first.receipt, id)).job).toBeDefined();
    await queue.release(first.receipt, 0);
    let job: Awaited<ReturnType<typeof svc.requests.claim>>['job'];
    for (let i = 0; i < 10 && !job; i++) {
      const d = await receive(id, 30);
      job = (await svc.requests.claim(r2, d.receipt, id)).job;
    }
    expect(job?.request_id).toBe(id);
    expect(await store.requests.get(id)).toMatchObject({
      status: 'IN_PROGRESS',
      runner_id: r2.id,
      attempts: 2,
    });
  }, 120_000);
});
