/**
 * Fault: control is SIGKILLed while submits are in flight, on PostgreSQL. A request row must exist
 * exactly when its queue message does: a row without a message would stay IN_QUEUE for good,
 * count toward fal_max_queue_length and keep its environment from scaling to zero.
 *
 * Needs a PostgreSQL server (DATABASE_URL; .ci/run sets it when one answers on loopback).
 */

import { randomBytes } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { PgClient } from '../../sql/src/pg-client.ts';
import { type ControlProcess, controlProcess } from '../support/control-process.ts';

/** A small folder for command revisions to snapshot. */
const APP_DIR = mkdtempSync(path.join(tmpdir(), 'gantry-app-'));

const DATABASE_URL = process.env.DATABASE_URL;

describe.skipIf(!DATABASE_URL)('control killed during submits (PostgreSQL)', () => {
  let control: ControlProcess | undefined;
  let db: PgClient | undefined;
  let dataDir = '';
  let orphans: number[] = [];

  afterAll(async () => {
    await control?.stop(orphans);
    await db?.close();
    if (dataDir) await rm(dataDir, { recursive: true, force: true });
  });

  it('leaves no request without its queue message', async () => {
    const schema = `crash_${randomBytes(6).toString('hex')}`;
    db = await PgClient.open(DATABASE_URL!, { schema });
    const url = new URL(DATABASE_URL!);
    url.searchParams.set('options', `-c search_path=${schema}`);
    dataDir = await mkdtemp(path.join(tmpdir(), 'gantry-submit-crash-'));
    control = await controlProcess({ dataDir, env: { DATABASE_URL: url.toString() } });
    await control.start();
    const ok = async (r: Promise<Response>) => expect((await r).status).toBeLessThan(300);
    await ok(control.admin('/v1/apps', { body: { owner: 't', name: 'crash', auth_mode: 'public' } }));
    // An app that never becomes ready: nothing takes messages off the queue meanwhile.
    await ok(
      control.admin('/v1/apps/t/crash/environments/production/revisions', {
        body: {
          command: ['sleep', '600'],
          cwd: APP_DIR,
          settings: { startup_timeout: 600 },
          activate: true,
          strategy: 'recreate',
        },
      }),
    );

    // Many submits in flight at once; control dies as soon as a few of them were answered.
    const base = control.url;
    let answered = 0;
    let wake: () => void = () => {};
    const someAnswered = new Promise<void>((resolve) => {
      wake = resolve;
    });
    const submits = Array.from({ length: 200 }, (_, i) =>
      fetch(`${base}/queue/t/crash`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ i }),
      })
        .then((r) => {
          if (r.ok && ++answered >= 10) wake();
        })
        .catch(() => {}),
    );
    await someAnswered;
    orphans = await control.kill();
    await Promise.all(submits);

    const rows = await db.query<{ requests: number; phantom: number }>(
      `SELECT COUNT(*)::int AS requests,
              COUNT(*) FILTER (WHERE NOT EXISTS (
                SELECT 1 FROM queue_messages q WHERE q.body->>'request_id' = r.id))::int AS phantom
       FROM requests r`,
    );
    expect(rows.rows[0]!.requests).toBeGreaterThanOrEqual(10);
    expect(rows.rows[0]!.phantom).toBe(0);
  });
});
