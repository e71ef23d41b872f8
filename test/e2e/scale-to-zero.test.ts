/**
 * The whole lifecycle on this machine with the process driver: a burst scales out to
 * max_concurrency and no further, every request completes once, idle runners drain to zero after
 * keep_alive, and the next request cold-starts a runner again. Then rolling deploys under a stream
 * of sync requests: none fails, each is answered once, by one revision; each deploy names a smoke
 * request, and the one the app answers with another status never goes live.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  eventually,
  HELLO_COMMAND,
  REPO_ROOT,
  startTestControl,
  type TestControl,
} from '../support/control.ts';

interface RunnerView {
  id: string;
  state: string;
  created_at: string;
  ended_at: string | null;
  cold_start_ms: number | null;
}

const LIVE = new Set(['PENDING', 'PULLING', 'SETUP', 'IDLE', 'RUNNING']);
const RUNNERS = '/v1/apps/test/hello/environments/production/runners';

let control: TestControl;

beforeAll(async () => {
  control = await startTestControl({ drainGraceSeconds: 5 });
  await control.deploy({
    name: 'hello',
    settings: { max_multiplexing: 1, startup_timeout: 60 },
    scaling: { max_concurrency: 3, keep_alive: 1.5 },
  });
});
afterAll(async () => {
  await control?.close();
});

async function runners(): Promise<RunnerView[]> {
  const res = await control.admin(RUNNERS);
  return ((await res.json()) as { runners: RunnerView[] }).runners;
}

describe('scale out, back to zero, cold start again', () => {
  it('a burst scales out to max_concurrency and no further, and every request completes once', async () => {
    const ids: string[] = [];
    for (let i = 0; i < 9; i++) {
      const res = await fetch(`${control.url}/queue/test/hello`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ name: `burst-${i}`, delay_ms: 1500 }),
      });
      expect(res.status).toBe(200);
      ids.push(((await res.json()) as { request_id: string }).request_id);
    }

    let most = 0;
    const watch = async () => {
      const live = (await runners()).filter((r) => LIVE.has(r.state)).length;
      most = Math.max(most, live);
      expect(live).toBeLessThanOrEqual(3);
    };
    await eventually(
      async () => {
        await watch();
        const statuses = await Promise.all(
          ids.map(async (id) => {
            const r = await fetch(`${control.url}/queue/test/hello/requests/${id}/status`);
            return ((await r.json()) as { status: string }).status;
          }),
        );
        return statuses.every((s) => s === 'COMPLETED') ? true : undefined;
      },
      60_000,
      'every request of the burst to complete',
    );
    expect(most).toBe(3);

    for (const [i, id] of ids.entries()) {
      const r = await fetch(`${control.url}/queue/test/hello/requests/${id}`);
      expect(r.status).toBe(200);
      expect(await r.json()).toEqual({ message: `Hello, burst-${i}!` });
    }
    const list = await control.admin('/v1/apps/test/hello/environments/production/requests');
    const requests = ((await list.json()) as { requests: { status: string; attempts: number }[] }).requests;
    expect(requests).toHaveLength(9);
    expect(requests.every((r) => r.status === 'COMPLETED' && r.attempts === 1)).toBe(true);
  });

  it('drains to zero after keep_alive, and the next request cold-starts again', async () => {
    const all = await eventually(
      async () => {
        const rs = await runners();
        return rs.length > 0 && rs.every((r) => r.state === 'TERMINATED') ? rs : undefined;
      },
      30_000,
      'every runner to end (scale to zero)',
    );
    expect(all.length).toBeGreaterThanOrEqual(3);
    expect(all.every((r) => r.cold_start_ms !== null && r.ended_at !== null)).toBe(true);

    const before = new Set(all.map((r) => r.id));
    const res = await fetch(`${control.url}/run/test/hello`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'again' }),
    });
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ message: 'Hello, again!' });
    const fresh = (await runners()).filter((r) => !before.has(r.id));
    expect(fresh).toHaveLength(1);
    expect(fresh[0]!.cold_start_ms).toBeGreaterThan(0);
  });
});

describe('rolling deploys under a stream of sync requests (fault)', () => {
  const ENV = '/v1/apps/test/hello/environments/production';

  it('no request fails, and each is answered once, by one revision', async () => {
    interface Answer {
      name: string;
      status: number;
      body: unknown;
      id: string | null;
    }
    const answers: Answer[] = [];
    let streaming = true;
    // Three callers, each sending its next sync request as soon as the last one is answered.
    const caller = async (c: number) => {
      for (let i = 0; streaming; i++) {
        const name = `c${c}-${i}`;
        const res = await fetch(`${control.url}/run/test/hello`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ name, delay_ms: 100 }),
        });
        answers.push({
          name,
          status: res.status,
          body: await res.json().catch(() => null),
          id: res.headers.get('x-fal-request-id'),
        });
      }
    };
    const callers = [0, 1, 2].map(caller);
    const deploys = 3;
    // The last deploy's smoke request expects a status the app does not answer: it must not go live.
    const smoke = (d: number) => ({
      path: '/',
      input: { name: 'smoke' },
      expect_status: d < deploys ? 200 : 201,
    });
    try {
      for (let d = 0; d <= deploys; d++) {
        const before = answers.length;
        // Traffic before each switch, so runners of the old revision are busy when it drains them.
        await eventually(async () => (answers.length >= before + 3 ? true : undefined), 60_000, 'traffic');
        const res = await control.admin(`${ENV}/revisions`, {
          body: {
            command: HELLO_COMMAND,
            cwd: REPO_ROOT,
            settings: { max_multiplexing: 1, startup_timeout: 60, smoke: smoke(d) },
            activate: true,
          },
        });
        expect(res.status).toBe(201);
        const rollout = await eventually(
          async () => {
            const list = await control.admin(`${ENV}/rollouts`);
            const [latest] = (
              (await list.json()) as {
                rollouts: { state: string; strategy: string; detail: string | null }[];
              }
            ).rollouts;
            return latest && latest.state !== 'in_progress' ? latest : undefined;
          },
          60_000,
          `rolling deploy ${d + 1} to end`,
        );
        if (d < deploys) expect(rollout).toMatchObject({ state: 'completed', strategy: 'rolling' });
        else {
          // Through the real runner: it called the app, saw 200, and exited saying so.
          expect(rollout).toMatchObject({
            state: 'aborted',
            detail: expect.stringMatching(/smoke request POST \/ answered 200, expected 201/),
          });
          const revs = (await (await control.admin(`${ENV}/revisions`)).json()) as {
            revisions: { number: number; active: boolean }[];
          };
          expect(revs.revisions.find((r) => r.active)?.number).toBe(deploys + 1);
        }
      }
      const after = answers.length;
      await eventually(async () => (answers.length >= after + 3 ? true : undefined), 60_000, 'traffic after');
    } finally {
      streaming = false;
      await Promise.all(callers);
    }

    const failed = answers.filter(
      (a) => a.status !== 200 || (a.body as { message?: string })?.message !== `Hello, ${a.name}!`,
    );
    expect(failed).toEqual([]);
    // Each request ran once, on one runner, so on one revision; together they span the deploys.
    const list = await control.admin(`${ENV}/requests?limit=1000`);
    const rows = new Map(
      (
        (await list.json()) as {
          requests: { request_id: string; attempts: number; runner_id: string | null }[];
        }
      ).requests.map((r) => [r.request_id, r]),
    );
    const revisionOf = new Map(
      (
        (await (await control.admin(`${ENV}/runners`)).json()) as {
          runners: { id: string; revision: number }[];
        }
      ).runners.map((r) => [r.id, r.revision]),
    );
    const served = new Set<number>();
    for (const a of answers) {
      const row = rows.get(a.id ?? '');
      expect(row, a.name).toMatchObject({ attempts: 1 });
      const revision = revisionOf.get(row!.runner_id ?? '');
      expect(revision, a.name).toBeDefined();
      served.add(revision!);
    }
    expect(served.size).toBeGreaterThanOrEqual(deploys);
  });
});
