/**
 * Figures the console draws, read from the records control already keeps: an environment's last
 * hour minute by minute (requests, queue depth, latency), and runner-seconds per day and machine
 * type (the cost). Nothing is sampled or stored for them.
 */
import type { SqlClient } from '../../../sql/src/sql-client.ts';

export interface MinuteFigures {
  at: number;
  submitted: number;
  queue_depth: number;
  p50_latency_ms: number | null;
  p95_latency_ms: number | null;
}

export interface RunnerSpan {
  app: string;
  environment: string;
  machine_type: string;
  started: number;
  ended: number;
}

const MINUTE = 60_000;

export class StatsStore {
  constructor(private readonly db: SqlClient) {}

  /**
   * `minutes` one-minute buckets ending at `now`: requests submitted in each, requests waiting at
   * its end (submitted, not yet started or finished), and the p50/p95 of submit-to-completion of
   * those completed in it.
   */
  async lastMinutes(envId: string, now: number, minutes = 60): Promise<MinuteFigures[]> {
    const r = await this.db.query<{
      t0: number;
      submitted: number;
      queue_depth: number;
      p50: number | null;
      p95: number | null;
    }>(
      `WITH b AS (
         SELECT $2::float8 - (($3::int - i) * ${MINUTE}) AS t0, $2::float8 - (($3::int - 1 - i) * ${MINUTE}) AS t1
         FROM generate_series(0, $3::int - 1) AS i),
       recent AS (
         SELECT created_at, started_at, completed_at FROM requests
         WHERE environment_id = $1
           AND (created_at >= $2::float8 - $3::int * ${MINUTE} OR status <> 'COMPLETED'
                OR completed_at >= $2::float8 - $3::int * ${MINUTE}))
       SELECT b.t0,
         (SELECT COUNT(*) FROM recent WHERE created_at >= b.t0 AND created_at < b.t1)::int AS submitted,
         (SELECT COUNT(*) FROM recent WHERE created_at < b.t1
            AND (started_at IS NULL OR started_at >= b.t1)
            AND (completed_at IS NULL OR completed_at >= b.t1))::int AS queue_depth,
         (SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY completed_at - created_at) FROM recent
            WHERE completed_at >= b.t0 AND completed_at < b.t1) AS p50,
         (SELECT percentile_cont(0.95) WITHIN GROUP (ORDER BY completed_at - created_at) FROM recent
            WHERE completed_at >= b.t0 AND completed_at < b.t1) AS p95
       FROM b ORDER BY b.t0`,
      [envId, now, minutes],
    );
    const ms = (v: number | null) => (v === null ? null : Math.round(Number(v)));
    return r.rows.map((row) => ({
      at: Number(row.t0),
      submitted: Number(row.submitted),
      queue_depth: Number(row.queue_depth),
      p50_latency_ms: ms(row.p50),
      p95_latency_ms: ms(row.p95),
    }));
  }

  /**
   * Every runner that was up at some time in [from, now], with its app, environment and machine
   * type (the first the revision names: the one compute tries first). A live runner ends at `now`.
   */
  async runnerSpans(from: number, now: number): Promise<RunnerSpan[]> {
    const r = await this.db.query<RunnerSpan>(
      `SELECT a.owner || '/' || a.name AS app, e.name AS environment,
              COALESCE(v.settings->'machine_type'->>0, 'CPU') AS machine_type,
              GREATEST(r.created_at, $1::float8) AS started,
              LEAST(COALESCE(r.ended_at, $2::float8), $2::float8) AS ended
       FROM runners r
       JOIN environments e ON e.id = r.environment_id
       JOIN apps a ON a.id = e.app_id
       LEFT JOIN revisions v ON v.id = r.revision_id
       WHERE r.created_at < $2::float8 AND COALESCE(r.ended_at, $2::float8) > $1::float8`,
      [from, now],
    );
    return r.rows.map((x) => ({ ...x, started: Number(x.started), ended: Number(x.ended) }));
  }
}

const DAY = 86_400_000;

/** Splits runner spans at UTC midnights and sums seconds per day, machine type, app and environment. */
export function runnerSecondsByDay(
  spans: RunnerSpan[],
): { day: string; machine_type: string; app: string; environment: string; runner_seconds: number }[] {
  const sums = new Map<string, number>();
  for (const s of spans) {
    let t = s.started;
    while (t < s.ended) {
      const dayStart = Math.floor(t / DAY) * DAY;
      const until = Math.min(s.ended, dayStart + DAY);
      const key = JSON.stringify([
        new Date(dayStart).toISOString().slice(0, 10),
        s.machine_type,
        s.app,
        s.environment,
      ]);
      sums.set(key, (sums.get(key) ?? 0) + (until - t) / 1000);
      t = until;
    }
  }
  return [...sums]
    .map(([key, seconds]) => {
      const [day, machine_type, app, environment] = JSON.parse(key) as [string, string, string, string];
      return { day, machine_type, app, environment, runner_seconds: Math.round(seconds * 10) / 10 };
    })
    .sort(
      (a, b) =>
        a.day.localeCompare(b.day) ||
        a.app.localeCompare(b.app) ||
        a.environment.localeCompare(b.environment) ||
        a.machine_type.localeCompare(b.machine_type),
    );
}

/** One label set of a scrape-time figure, and its value. */
export interface Sample {
  application: string;
  environment: string;
  value: number;
  revision?: string;
  state?: string;
  machine_type?: string;
  status?: string;
}

const APP = `a.owner || '/' || a.name`;

/** The figures `/metrics` reads from the records at each scrape (so they survive a restart of control). */
export class ScrapeQueries {
  constructor(private readonly db: SqlClient) {}

  /** Live runners by environment, revision, state and machine type. */
  async runners(): Promise<Sample[]> {
    const r = await this.db.query<Sample>(
      `SELECT ${APP} AS application, e.name AS environment, COALESCE(v.number::text, '') AS revision,
              lower(r.state) AS state, COALESCE(v.settings->'machine_type'->>0, 'CPU') AS machine_type,
              COUNT(*)::int AS value
       FROM runners r JOIN environments e ON e.id = r.environment_id JOIN apps a ON a.id = e.app_id
       LEFT JOIN revisions v ON v.id = r.revision_id
       WHERE r.ended_at IS NULL
       GROUP BY 1, 2, 3, 4, 5`,
    );
    return r.rows;
  }

  /** Requests not completed, by environment and status (`IN_QUEUE`, `IN_PROGRESS`). */
  async openRequests(): Promise<Sample[]> {
    const r = await this.db.query<Sample>(
      `SELECT ${APP} AS application, e.name AS environment, q.status AS state, COUNT(*)::int AS value
       FROM requests q JOIN environments e ON e.id = q.environment_id JOIN apps a ON a.id = e.app_id
       WHERE q.status <> 'COMPLETED' GROUP BY 1, 2, 3`,
    );
    return r.rows;
  }

  /** Requests received, and completed by HTTP status, in the minute before `now` (fal's window). */
  async lastMinute(now: number): Promise<{ received: Sample[]; completed: Sample[] }> {
    const from = now - 60_000;
    const received = await this.db.query<Sample>(
      `SELECT ${APP} AS application, e.name AS environment, COUNT(*)::int AS value
       FROM requests q JOIN environments e ON e.id = q.environment_id JOIN apps a ON a.id = e.app_id
       WHERE q.created_at >= $1 GROUP BY 1, 2`,
      [from],
    );
    const completed = await this.db.query<Sample>(
      `SELECT ${APP} AS application, e.name AS environment,
              COALESCE(q.result_status, CASE WHEN q.error_type IS NULL THEN 200 ELSE 500 END)::text AS status,
              COUNT(*)::int AS value
       FROM requests q JOIN environments e ON e.id = q.environment_id JOIN apps a ON a.id = e.app_id
       WHERE q.completed_at >= $1 GROUP BY 1, 2, 3`,
      [from],
    );
    return { received: received.rows, completed: completed.rows };
  }

  /** Seconds every runner on record has been up, live ones until `now`, by machine type. */
  async runnerSeconds(now: number): Promise<Sample[]> {
    const r = await this.db.query<Sample>(
      `SELECT ${APP} AS application, e.name AS environment,
              COALESCE(v.settings->'machine_type'->>0, 'CPU') AS machine_type,
              SUM((COALESCE(r.ended_at, $1::float8) - r.created_at) / 1000.0)::float8 AS value
       FROM runners r JOIN environments e ON e.id = r.environment_id JOIN apps a ON a.id = e.app_id
       LEFT JOIN revisions v ON v.id = r.revision_id
       GROUP BY 1, 2, 3`,
      [now],
    );
    return r.rows.map((x) => ({ ...x, value: Number(x.value) }));
  }
}
