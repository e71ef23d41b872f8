/**
 * The schema, as an ordered list of migrations shared by PGlite and PostgreSQL. Append only: a
 * published migration never changes. Times are epoch milliseconds in float8 columns, so both
 * drivers return plain numbers and one clock (the service's) orders everything.
 */
import type { SqlClient } from '../../../sql/src/sql-client.ts';

export const MIGRATIONS: { version: number; name: string; sql: string }[] = [
  {
    version: 1,
    name: 'foundation',
    sql: `
CREATE TABLE apps (
  id text PRIMARY KEY,
  owner text NOT NULL,
  name text NOT NULL,
  auth_mode text NOT NULL,
  created_at float8 NOT NULL,
  UNIQUE (owner, name)
);

CREATE TABLE environments (
  id text PRIMARY KEY,
  app_id text NOT NULL REFERENCES apps(id) ON DELETE CASCADE,
  name text NOT NULL,
  active_revision_id text,
  scaling jsonb NOT NULL DEFAULT '{}',
  created_at float8 NOT NULL,
  UNIQUE (app_id, name)
);

CREATE TABLE revisions (
  id text PRIMARY KEY,
  environment_id text NOT NULL REFERENCES environments(id) ON DELETE CASCADE,
  number integer NOT NULL,
  image text,
  command jsonb,
  cwd text,
  settings jsonb NOT NULL,
  commit_sha text,
  message text,
  annotations jsonb NOT NULL DEFAULT '{}',
  created_by text,
  created_at float8 NOT NULL,
  UNIQUE (environment_id, number)
);

CREATE TABLE requests (
  id text PRIMARY KEY,
  environment_id text NOT NULL REFERENCES environments(id) ON DELETE CASCADE,
  path text NOT NULL,
  input jsonb,
  status text NOT NULL,
  priority text NOT NULL,
  attempts integer NOT NULL DEFAULT 0,
  no_retry boolean NOT NULL DEFAULT false,
  start_deadline float8,
  cancel_requested boolean NOT NULL DEFAULT false,
  runner_id text,
  result_status integer,
  result_body jsonb,
  result_content_type text,
  error text,
  error_type text,
  created_at float8 NOT NULL,
  started_at float8,
  completed_at float8,
  inference_ms float8
);
CREATE INDEX requests_env_status ON requests (environment_id, status, created_at);

CREATE TABLE request_logs (
  seq bigserial PRIMARY KEY,
  request_id text NOT NULL REFERENCES requests(id) ON DELETE CASCADE,
  ts text NOT NULL,
  level text NOT NULL,
  source text NOT NULL,
  message text NOT NULL
);
CREATE INDEX request_logs_request ON request_logs (request_id, seq);

CREATE TABLE runners (
  id text PRIMARY KEY,
  environment_id text NOT NULL REFERENCES environments(id) ON DELETE CASCADE,
  revision_id text NOT NULL,
  state text NOT NULL,
  in_flight integer NOT NULL DEFAULT 0,
  token_hash text NOT NULL,
  drain_requested boolean NOT NULL DEFAULT false,
  detail text,
  created_at float8 NOT NULL,
  state_changed_at float8 NOT NULL,
  ready_at float8,
  last_active_at float8,
  ended_at float8,
  cold_start_ms float8,
  history jsonb NOT NULL DEFAULT '[]'
);
CREATE INDEX runners_env_state ON runners (environment_id, state);

CREATE TABLE queue_messages (
  id bigserial PRIMARY KEY,
  queue text NOT NULL,
  priority integer NOT NULL,
  body jsonb NOT NULL,
  visible_at float8 NOT NULL,
  receive_count integer NOT NULL DEFAULT 0,
  created_at float8 NOT NULL
);
CREATE INDEX queue_messages_ready ON queue_messages (queue, priority, id);

CREATE TABLE api_keys (
  id text PRIMARY KEY,
  key_hash text NOT NULL UNIQUE,
  scope text NOT NULL,
  description text NOT NULL DEFAULT '',
  created_at float8 NOT NULL,
  revoked_at float8
);
`,
  },
  {
    version: 2,
    name: 'builds',
    // Registering the same image for the same commit twice is one build: the Action may be re-run.
    sql: `
CREATE TABLE builds (
  id text PRIMARY KEY,
  repository text NOT NULL,
  commit_sha text NOT NULL,
  ref text,
  image text NOT NULL,
  digest text NOT NULL,
  content_hash text,
  registered_by text NOT NULL,
  created_at float8 NOT NULL,
  UNIQUE (repository, commit_sha, digest)
);
CREATE INDEX builds_repository_commit ON builds (repository, commit_sha, created_at);
`,
  },
  {
    version: 3,
    name: 'secrets, key owners, key usage',
    sql: `
CREATE TABLE secrets (
  environment_id text NOT NULL REFERENCES environments(id) ON DELETE CASCADE,
  name text NOT NULL,
  key_id text NOT NULL,
  nonce text NOT NULL,
  ciphertext text NOT NULL,
  updated_at float8 NOT NULL,
  PRIMARY KEY (environment_id, name)
);

ALTER TABLE api_keys ADD COLUMN owner text;

ALTER TABLE requests ADD COLUMN key_id text;
CREATE INDEX requests_key ON requests (key_id) WHERE key_id IS NOT NULL;
`,
  },
  {
    version: 4,
    name: 'rollouts',
    sql: `
CREATE TABLE rollouts (
  id text PRIMARY KEY,
  environment_id text NOT NULL REFERENCES environments(id) ON DELETE CASCADE,
  from_revision_id text,
  to_revision_id text NOT NULL,
  strategy text NOT NULL,
  restart boolean NOT NULL DEFAULT false,
  state text NOT NULL,
  reason text,
  created_by text,
  candidate_runner_id text,
  detail text,
  created_at float8 NOT NULL,
  switched_at float8,
  ended_at float8
);
CREATE INDEX rollouts_env ON rollouts (environment_id, created_at);
`,
  },
  {
    version: 5,
    name: 'fal request semantics: dead letters, start deadlines, webhooks',
    sql: `
ALTER TABLE queue_messages ADD COLUMN dead_at float8;
ALTER TABLE requests ADD COLUMN webhook_url text;
ALTER TABLE requests ADD COLUMN dead_lettered boolean NOT NULL DEFAULT false;
CREATE INDEX requests_start_deadline ON requests (start_deadline)
  WHERE status = 'IN_QUEUE' AND attempts = 0 AND start_deadline IS NOT NULL;

CREATE TABLE webhook_deliveries (
  request_id text PRIMARY KEY REFERENCES requests(id) ON DELETE CASCADE,
  url text NOT NULL,
  attempts integer NOT NULL DEFAULT 0,
  next_at float8 NOT NULL,
  created_at float8 NOT NULL,
  delivered_at float8,
  given_up_at float8,
  last_error text
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (next_at)
  WHERE delivered_at IS NULL AND given_up_at IS NULL;
`,
  },
  {
    version: 6,
    name: 'github app',
    // Once created the GitHub App's tables; the App now owns them and its own migrations
    // (github-app/src/migrations.ts), which adopt the tables where this step already ran. The
    // version stays as a marker so the history of existing databases is unchanged.
    sql: 'SELECT 1',
  },
  {
    version: 7,
    name: 'start deadlines cover retries',
    // The reaper now ends every queued request past its start deadline, first attempt or retry.
    sql: `
DROP INDEX IF EXISTS requests_start_deadline;
CREATE INDEX requests_start_deadline_queued ON requests (start_deadline)
  WHERE status = 'IN_QUEUE' AND start_deadline IS NOT NULL;
`,
  },
  {
    version: 8,
    name: 'unguessable queue receipts',
    // A receipt was `<id>.<receive count>`, which any runner could guess for another tenant's
    // message; each delivery now also carries a random secret that the receipt must present.
    sql: 'ALTER TABLE queue_messages ADD COLUMN receipt_secret text;',
  },
  {
    version: 9,
    name: 'events and runner output',
    // Runner lines share the request lines' sequence, so one cursor follows an environment's logs.
    sql: `
CREATE TABLE events (
  seq bigserial PRIMARY KEY,
  environment_id text NOT NULL REFERENCES environments(id) ON DELETE CASCADE,
  at float8 NOT NULL,
  type text NOT NULL,
  message text NOT NULL,
  runner_id text,
  revision integer,
  data jsonb NOT NULL DEFAULT '{}'
);
CREATE INDEX events_environment ON events (environment_id, seq);
CREATE INDEX events_at ON events (at);

CREATE TABLE runner_logs (
  seq bigint PRIMARY KEY DEFAULT nextval('request_logs_seq_seq'),
  runner_id text NOT NULL,
  environment_id text NOT NULL REFERENCES environments(id) ON DELETE CASCADE,
  ts text NOT NULL,
  level text NOT NULL,
  source text NOT NULL,
  message text NOT NULL
);
CREATE INDEX runner_logs_environment ON runner_logs (environment_id, seq);
`,
  },
  {
    version: 10,
    name: 'idempotency keys, requests sent to SQS',
    // A submit's Idempotency-Key, per environment, naming the request it made; written in the
    // submit's own transaction on the embedded queue, so a key never names a request that is not there.
    sql: `
CREATE TABLE idempotency_keys (
  environment_id text NOT NULL REFERENCES environments(id) ON DELETE CASCADE,
  key text NOT NULL,
  fingerprint text NOT NULL,
  request_id text NOT NULL,
  created_at float8 NOT NULL,
  PRIMARY KEY (environment_id, key)
);
CREATE INDEX idempotency_keys_created ON idempotency_keys (created_at);

-- With SQS, a request and its message are two writes: enqueued_at is set once SQS took the
-- message, so a request a crash left without one is found and failed. Earlier rows count as sent.
ALTER TABLE requests ADD COLUMN enqueued_at float8;
UPDATE requests SET enqueued_at = created_at;
`,
  },
  {
    version: 11,
    name: 'byte-exact bodies, retention, runner hints',
    // Inputs and results as the bytes that were sent (jsonb reorders keys and cannot hold binary);
    // rows from before keep their jsonb columns and are served from them. Retention empties a
    // request's bodies and marks when (expired_at), so a late read can answer 410.
    sql: `
ALTER TABLE requests ADD COLUMN input_raw bytea;
ALTER TABLE requests ADD COLUMN input_content_type text;
ALTER TABLE requests ADD COLUMN result_raw bytea;
ALTER TABLE requests ADD COLUMN expired_at float8;
ALTER TABLE requests ADD COLUMN runner_hint text;
CREATE INDEX requests_retention ON requests (completed_at)
  WHERE status = 'COMPLETED' AND expired_at IS NULL;
`,
  },
  {
    version: 12,
    name: 'audit log and key scopes (issue 17)',
    // Who did what to which app, kept for GANTRY_AUDIT_RETENTION_DAYS. Keys gain limits: API keys
    // to apps and environments (null: any), ADMIN keys to an owner (the existing column), an
    // expiry and a rate limit of submissions a minute (null: none).
    sql: `
CREATE TABLE audit_log (
  seq bigserial PRIMARY KEY,
  at float8 NOT NULL,
  actor text NOT NULL,
  on_behalf_of text,
  action text NOT NULL,
  target text NOT NULL,
  owner text,
  app text,
  environment text,
  status integer NOT NULL,
  ip text,
  detail jsonb NOT NULL DEFAULT '{}'
);
CREATE INDEX audit_log_at ON audit_log (at);
CREATE INDEX audit_log_app ON audit_log (app, seq);

ALTER TABLE api_keys ADD COLUMN apps jsonb;
ALTER TABLE api_keys ADD COLUMN environments jsonb;
ALTER TABLE api_keys ADD COLUMN expires_at float8;
ALTER TABLE api_keys ADD COLUMN rate_limit integer;
`,
  },
  {
    version: 13,
    name: 'several control processes',
    // Each control process says it is alive (controls); each runner records which one started it
    // and when it last called (seen_at), so a control that starts adopts the runners of one that
    // died instead of draining them; crash backoff lives here so every replica honours it.
    sql: `
CREATE TABLE controls (
  id text PRIMARY KEY,
  started_at float8 NOT NULL,
  seen_at float8 NOT NULL
);
ALTER TABLE runners ADD COLUMN control_id text;
ALTER TABLE runners ADD COLUMN seen_at float8;
CREATE INDEX runners_live ON runners (environment_id) WHERE ended_at IS NULL;
CREATE TABLE environment_backoffs (
  environment_id text PRIMARY KEY REFERENCES environments(id) ON DELETE CASCADE,
  kind text NOT NULL,
  crashes integer NOT NULL,
  until float8 NOT NULL
);
CREATE TABLE environment_leases (
  environment_id text PRIMARY KEY,
  holder text NOT NULL,
  until float8 NOT NULL
);
`,
  },
  {
    version: 14,
    name: 'attempt holds',
    // Which delivery started the current attempt (claim_receipt) and until when its holder is known
    // to be working on it (held_until, pushed on by the holder's heartbeats): a second delivery of
    // the same request (a queue's visibility ran out while the attempt ran) starts nothing while
    // the hold lasts, so a request runs once even when a queue hands its message out twice.
    sql: `
ALTER TABLE requests ADD COLUMN claim_receipt text;
ALTER TABLE requests ADD COLUMN held_until float8;
`,
  },
];

/** Brings the schema up to date; safe to call at every start, from several processes at once. */
export async function migrate(db: SqlClient): Promise<void> {
  await db.exec(
    'CREATE TABLE IF NOT EXISTS schema_migrations (version integer PRIMARY KEY, name text NOT NULL)',
  );
  await db.transaction(async (tx) => {
    if (tx.kind === 'postgres') await tx.query('SELECT pg_advisory_xact_lock(74201)');
    const done = await tx.query<{ version: number }>('SELECT version FROM schema_migrations');
    const applied = new Set(done.rows.map((r) => r.version));
    for (const m of MIGRATIONS) {
      if (applied.has(m.version)) continue;
      await tx.exec(m.sql);
      await tx.query('INSERT INTO schema_migrations (version, name) VALUES ($1, $2)', [m.version, m.name]);
    }
  });
}
