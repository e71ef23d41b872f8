/**
 * The store: one slice per aggregate (apps and environments, revisions, builds, requests, webhook
 * deliveries, logs, secrets, runners, rollouts, keys, audit log), all over one SqlClient. One implementation
 * serves both PGlite and PostgreSQL, so the two cannot drift; the contract suites
 * (*.contract.test.ts here) run against both.
 *
 * Every slice reads time from the clock given here, so tests can set it.
 */
import type { SqlClient } from '../../../sql/src/sql-client.ts';
import { AppLookupCache } from './app-lookup-cache.ts';
import { AppsStore, type AppWithEnvironment } from './apps-store.ts';
import { AuditStore } from './audit-store.ts';
import { BackoffsStore } from './backoffs-store.ts';
import { BuildsStore } from './builds-store.ts';
import { ControlsStore } from './controls-store.ts';
import { EventsStore } from './events-store.ts';
import { IdempotencyStore } from './idempotency-store.ts';
import { KeysStore } from './keys-store.ts';
import { LogsStore } from './logs-store.ts';
import { migrate } from './migrations.ts';
import { RequestsStore } from './requests-store.ts';
import { RevisionsStore } from './revisions-store.ts';
import { RolloutsStore } from './rollouts-store.ts';
import { RunnerLogsStore } from './runner-logs-store.ts';
import { RunnersStore } from './runners-store.ts';
import { SecretsStore } from './secrets-store.ts';
import { WebhooksStore } from './webhooks-store.ts';

export class Store {
  readonly apps: AppsStore;
  readonly revisions: RevisionsStore;
  readonly builds: BuildsStore;
  readonly requests: RequestsStore;
  readonly webhooks: WebhooksStore;
  readonly logs: LogsStore;
  readonly secrets: SecretsStore;
  readonly runners: RunnersStore;
  readonly rollouts: RolloutsStore;
  readonly keys: KeysStore;
  readonly events: EventsStore;
  readonly runnerLogs: RunnerLogsStore;
  readonly idempotency: IdempotencyStore;
  readonly audit: AuditStore;
  readonly controls: ControlsStore;
  readonly backoffs: BackoffsStore;

  constructor(
    readonly db: SqlClient,
    private readonly clock: () => number = Date.now,
    /** The request path's app lookups, shared with the stores of this store's transactions. */
    private readonly lookups = new AppLookupCache<AppWithEnvironment>(),
  ) {
    this.apps = new AppsStore(db, clock, lookups);
    this.revisions = new RevisionsStore(db, clock);
    this.builds = new BuildsStore(db, clock);
    this.requests = new RequestsStore(db, clock);
    this.webhooks = new WebhooksStore(db, clock);
    this.logs = new LogsStore(db);
    this.secrets = new SecretsStore(db, clock);
    this.runners = new RunnersStore(db, clock);
    this.rollouts = new RolloutsStore(db, clock, () => lookups.changed());
    this.keys = new KeysStore(db, clock);
    this.events = new EventsStore(db, clock);
    this.runnerLogs = new RunnerLogsStore(db);
    this.idempotency = new IdempotencyStore(db, clock);
    this.audit = new AuditStore(db, clock);
    this.controls = new ControlsStore(db, clock);
    this.backoffs = new BackoffsStore(db);
  }

  async migrate(): Promise<void> {
    await migrate(this.db);
  }

  async close(): Promise<void> {
    await this.db.close();
  }

  /**
   * Runs fn in one transaction, with a store whose every slice uses it: the writes of several
   * slices land together or not at all.
   */
  async transaction<T>(fn: (tx: Store) => Promise<T>): Promise<T> {
    const version = this.lookups.version;
    try {
      return await this.db.transaction((db) => fn(new Store(db, this.clock, this.lookups)));
    } finally {
      // An app or environment written inside counted as changed before its commit; again now, so a
      // lookup read between the two keeps nothing.
      if (this.lookups.version !== version) this.lookups.changed();
    }
  }
}
