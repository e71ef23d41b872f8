/**
 * Control's Prometheus metrics (`GET /metrics`). fal's names where fal has them, so dashboards
 * built for fal's metrics endpoint work here: `fal_app_runners`, `fal_app_queue_size`,
 * `fal_app_concurrent_requests`, `fal_app_requests_received`, `fal_app_requests_completed` (the
 * last minute, as fal counts them) and `fal_app_request_latency`, labelled `application` as fal
 * labels them, plus `environment` (and `revision` on runners). Gantry's own under `gantry_`.
 *
 * Gauges are read from the records at each scrape, so they are right after a restart; counters
 * and histograms count what this process saw. Label values are bounded: applications and
 * environments beyond MAX_ENVIRONMENTS fold into `_other`, error types and statements come from
 * fixed sets, HTTP routes are route patterns, never URLs.
 */
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { SqlClient } from '../../../sql/src/sql-client.ts';
import { ScrapeQueries } from '../stats/stats-store.ts';

/** Distinct application/environment pairs kept as labels; the rest are counted as `_other`. */
export const MAX_ENVIRONMENTS = 500;
const OTHER = '_other';

const LATENCY_BUCKETS = [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600];
const COLD_START_BUCKETS = [0.5, 1, 2, 5, 10, 20, 30, 60, 120, 300, 600];
const HTTP_BUCKETS = [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10];
const STORE_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1];

export interface Where {
  application: string;
  environment: string;
}

export class ControlMetrics {
  readonly registry = new Registry();
  private readonly known = new Set<string>();
  private scrape: ScrapeQueries | undefined;
  private readonly clock: () => number;

  readonly requestLatency: Histogram<'application' | 'environment'>;
  readonly queueWait: Histogram<'application' | 'environment'>;
  readonly coldStart: Histogram<'application' | 'environment' | 'machine_type'>;
  readonly attempts: Counter<'application' | 'environment'>;
  readonly retries: Counter<'application' | 'environment' | 'error_type'>;
  readonly deadLettered: Counter<'application' | 'environment'>;
  readonly webhookDeliveries: Counter<'outcome'>;
  readonly http: Histogram<'method' | 'route' | 'status'>;
  readonly store: Histogram<'statement' | 'outcome'>;

  constructor(opts: { clock?: () => number } = {}) {
    this.clock = opts.clock ?? Date.now;
    const registers = [this.registry];
    const self = this;
    const where = ['application', 'environment'] as const;

    new Gauge({
      name: 'fal_app_runners',
      help: 'Runners currently allocated, by state (pending, setup, idle, running, draining, ...)',
      labelNames: [...where, 'revision', 'state', 'machine_type'],
      registers,
      async collect() {
        this.reset();
        for (const s of (await self.queries()?.runners()) ?? []) {
          this.set(
            { ...self.where(s), revision: s.revision!, state: s.state!, machine_type: s.machine_type! },
            s.value,
          );
        }
      },
    });
    const open = async () => (await self.queries()?.openRequests()) ?? [];
    new Gauge({
      name: 'fal_app_queue_size',
      help: 'Requests waiting in the queue',
      labelNames: where,
      registers,
      async collect() {
        this.reset();
        for (const s of await open()) if (s.state === 'IN_QUEUE') this.set(self.where(s), s.value);
      },
    });
    new Gauge({
      name: 'fal_app_concurrent_requests',
      help: 'Requests being processed now',
      labelNames: where,
      registers,
      async collect() {
        this.reset();
        for (const s of await open()) if (s.state === 'IN_PROGRESS') this.set(self.where(s), s.value);
      },
    });
    new Gauge({
      name: 'fal_app_requests_received',
      help: 'Requests received in the last minute',
      labelNames: where,
      registers,
      async collect() {
        this.reset();
        const m = await self.queries()?.lastMinute(self.clock());
        for (const s of m?.received ?? []) this.set(self.where(s), s.value);
      },
    });
    new Gauge({
      name: 'fal_app_requests_completed',
      help: 'Requests completed in the last minute, by HTTP status',
      labelNames: [...where, 'status'],
      registers,
      async collect() {
        this.reset();
        const m = await self.queries()?.lastMinute(self.clock());
        for (const s of m?.completed ?? []) this.set({ ...self.where(s), status: s.status! }, s.value);
      },
    });
    new Counter({
      name: 'gantry_runner_seconds_total',
      help: 'Seconds runners have been up (the cost), by machine type; live runners count until now',
      labelNames: [...where, 'machine_type'],
      registers,
      async collect() {
        this.reset();
        // Summed from the runner records at each scrape: it only grows (until an environment is
        // deleted, which Prometheus reads as a counter reset) and survives a restart of control.
        for (const s of (await self.queries()?.runnerSeconds(self.clock())) ?? []) {
          this.inc({ ...self.where(s), machine_type: s.machine_type! }, s.value);
        }
      },
    });

    this.requestLatency = new Histogram({
      name: 'fal_app_request_latency',
      help: 'Completed requests by latency in seconds, submit to completion',
      labelNames: where,
      buckets: LATENCY_BUCKETS,
      registers,
    });
    this.queueWait = new Histogram({
      name: 'gantry_request_queue_wait_seconds',
      help: 'Seconds a request waited in the queue before its first attempt started',
      labelNames: where,
      buckets: LATENCY_BUCKETS,
      registers,
    });
    this.coldStart = new Histogram({
      name: 'gantry_runner_cold_start_seconds',
      help: 'Seconds from asking compute for a runner to the runner being ready',
      labelNames: [...where, 'machine_type'],
      buckets: COLD_START_BUCKETS,
      registers,
    });
    this.attempts = new Counter({
      name: 'gantry_request_attempts_total',
      help: 'Attempts started (a retried request counts each)',
      labelNames: where,
      registers,
    });
    this.retries = new Counter({
      name: 'gantry_request_retries_total',
      help: 'Failed attempts put back on the queue, by fal error type',
      labelNames: [...where, 'error_type'],
      registers,
    });
    this.deadLettered = new Counter({
      name: 'gantry_requests_dead_lettered_total',
      help: 'Requests that ran out of attempts',
      labelNames: where,
      registers,
    });
    this.webhookDeliveries = new Counter({
      name: 'gantry_webhook_deliveries_total',
      help: 'Webhook delivery attempts by outcome: delivered, failed (retried later) or given_up',
      labelNames: ['outcome'],
      registers,
    });
    this.http = new Histogram({
      name: 'gantry_http_request_duration_seconds',
      help: "Control's HTTP requests by route pattern, method and status class",
      labelNames: ['method', 'route', 'status'],
      buckets: HTTP_BUCKETS,
      registers,
    });
    this.store = new Histogram({
      name: 'gantry_store_query_duration_seconds',
      help: 'Store statements by verb and first table',
      labelNames: ['statement', 'outcome'],
      buckets: STORE_BUCKETS,
      registers,
    });
  }

  /** Where the scrape-time gauges read from; unset (no database), they are empty. */
  readFrom(db: SqlClient): void {
    this.scrape = new ScrapeQueries(db);
  }

  private queries(): ScrapeQueries | undefined {
    return this.scrape;
  }

  /** The labels of an application environment, folded into `_other` past the budget. */
  where(w: Where): Where {
    const key = `${w.application}\n${w.environment}`;
    if (this.known.has(key)) return { application: w.application, environment: w.environment };
    if (this.known.size < MAX_ENVIRONMENTS) {
      this.known.add(key);
      return { application: w.application, environment: w.environment };
    }
    return { application: OTHER, environment: OTHER };
  }

  /** For TimedSqlClient. */
  observeQuery = (statement: string, seconds: number, ok: boolean): void => {
    this.store.observe({ statement, outcome: ok ? 'ok' : 'error' }, seconds);
  };

  text(): Promise<string> {
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }
}
