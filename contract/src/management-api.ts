/**
 * The management API's shapes (`/v1/…`), declared once: control's routes validate and serialize with
 * them, and the typed client (control-client.ts) checks control's answers against them. Only shapes
 * live here; what the routes do with them is control's business.
 */
import { type Static, Type } from 'typebox';

/** Lower-case letters, digits and single dashes; `--` is reserved for `name--env` endpoint ids. */
export const NAME = '^(?!.*--)[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$';
/** `owner/name`: two names. */
export const APP_ID = '^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?/[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$';

export const Name = (description: string) => Type.String({ pattern: NAME, description });

const AuthModeSchema = Type.Union([Type.Literal('private'), Type.Literal('public'), Type.Literal('shared')]);
export type AuthMode = Static<typeof AuthModeSchema>;
export const AUTH_MODES: readonly AuthMode[] = ['private', 'public', 'shared'];
const KeyScopeSchema = Type.Union([Type.Literal('ADMIN'), Type.Literal('API')]);
export type KeyScope = Static<typeof KeyScopeSchema>;
export const KEY_SCOPES: readonly KeyScope[] = ['ADMIN', 'API'];

export const AppParams = Type.Object({ owner: Name('Owner'), name: Name('App name') });
export const EnvParams = Type.Object({
  owner: Name('Owner'),
  name: Name('App name'),
  env: Name('Environment'),
});
export const RevisionParams = Type.Object({ ...EnvParams.properties, number: Type.Integer({ minimum: 1 }) });
export const RunnerParams = Type.Object({ ...EnvParams.properties, runner: Type.String({ minLength: 1 }) });
export const RequestParams = Type.Object({ ...EnvParams.properties, request_id: Type.String() });
export const SecretParams = Type.Object({ ...EnvParams.properties, secret: Type.String() });
export const KeyParams = Type.Object({ id: Type.String() });

const Nullable = <T extends Parameters<typeof Type.Union>[0][number]>(t: T) => Type.Union([t, Type.Null()]);

// ---- apps ----

export const AppView = Type.Object({
  id: Type.String(),
  owner: Type.String(),
  name: Type.String(),
  endpoint_id: Type.String(),
  auth_mode: Type.String(),
  created_at: Type.String(),
});
export type AppView = Static<typeof AppView>;

export const CreateApp = Type.Object(
  {
    owner: Name('Owner of the endpoint (`<owner>/<name>`)'),
    name: Name('App name'),
    auth_mode: Type.Optional(
      Type.Union(AuthModeSchema.anyOf, {
        description: 'private (a key is required), public (no key) or shared (any valid key)',
      }),
    ),
  },
  { additionalProperties: false },
);
export type CreateApp = Static<typeof CreateApp>;

export const PatchApp = Type.Object({ auth_mode: AuthModeSchema }, { additionalProperties: false });
export type PatchApp = Static<typeof PatchApp>;

export const AppList = Type.Object({ apps: Type.Array(AppView) });

// ---- environments ----

export const EnvironmentView = Type.Object({
  name: Type.String(),
  endpoint_id: Type.String(),
  active_revision: Nullable(Type.Integer()),
  scaling: Type.Record(Type.String(), Type.Number()),
});
export type EnvironmentView = Static<typeof EnvironmentView>;

export const AppWithEnvironments = Type.Intersect([
  AppView,
  Type.Object({ environments: Type.Array(EnvironmentView) }),
]);
export type AppWithEnvironments = Static<typeof AppWithEnvironments>;

export const CreateEnvironment = Type.Object(
  { name: Name('Environment name') },
  { additionalProperties: false },
);
export type CreateEnvironment = Static<typeof CreateEnvironment>;

export const EnvironmentListView = Type.Intersect([
  EnvironmentView,
  Type.Object({ secrets: Type.Integer(), created_at: Type.String() }),
]);
export type EnvironmentListView = Static<typeof EnvironmentListView>;
export const EnvironmentList = Type.Object({ environments: Type.Array(EnvironmentListView) });

// ---- scaling ----

export const ScalingView = Type.Record(Type.String(), Type.Number());
export type ScalingView = Static<typeof ScalingView>;
/** Checked field by field against the settings table (scaling-settings.ts), with its own messages. */
export const ScalingPatch = Type.Record(Type.String(), Type.Unknown());

// ---- revisions and rollouts ----

export const Strategy = Type.Union([Type.Literal('rolling'), Type.Literal('recreate')], {
  description:
    '`rolling`: start one runner of the new revision, switch when it is healthy, then drain the old ones (abort and keep the old revision if it fails). `recreate`: switch at once. Default: `rolling` when runners are live, else `recreate`.',
});
export type Strategy = Static<typeof Strategy>;

export const RevisionView = Type.Object({
  number: Type.Integer(),
  environment: Type.String(),
  active: Type.Boolean(),
  image: Nullable(Type.String()),
  command: Nullable(Type.Array(Type.String())),
  cwd: Nullable(Type.String()),
  settings: Type.Record(Type.String(), Type.Unknown()),
  commit_sha: Nullable(Type.String()),
  message: Nullable(Type.String()),
  annotations: Type.Record(Type.String(), Type.Unknown()),
  created_at: Type.String(),
  status: Type.Union([Type.Literal('ok'), Type.Literal('failed'), Type.Literal('not_started')], {
    description: 'ok: a runner of it became ready; failed: its runners crashed before ready; not_started',
  }),
  failure: Nullable(Type.String()),
});
export type RevisionView = Static<typeof RevisionView>;
export const RevisionList = Type.Object({ revisions: Type.Array(RevisionView) });

export const CreateRevision = Type.Object(
  {
    command: Type.Optional(
      Type.Array(Type.String(), { minItems: 1, description: 'argv of the app process' }),
    ),
    cwd: Type.Optional(
      Type.String({
        description: 'absolute folder on control’s machine the command runs in; required with `command`',
      }),
    ),
    image: Type.Optional(Type.String({ description: 'image by digest, for container compute' })),
    settings: Type.Optional(Type.Record(Type.String(), Type.Unknown())),
    commit_sha: Type.Optional(Type.String()),
    message: Type.Optional(Type.String()),
    annotations: Type.Optional(Type.Record(Type.String(), Type.Unknown())),
    activate: Type.Optional(
      Type.Boolean({
        default: false,
        description:
          'roll it out now (through the deploy gate unless `strategy` is recreate); unset or false: only record it',
      }),
    ),
    strategy: Type.Optional(
      Type.Union([Type.Literal('rolling'), Type.Literal('recreate')], {
        description:
          'rolling (the default): the deploy gate, switch once a runner of it is healthy; recreate: switch now, unproven',
      }),
    ),
  },
  { additionalProperties: false },
);
export type CreateRevision = Static<typeof CreateRevision>;

export const SetActive = Type.Object(
  {
    revision: Type.Integer({ minimum: 1 }),
    strategy: Type.Optional(Strategy),
    reason: Type.Optional(Type.String({ maxLength: 1000 })),
    by: Type.Optional(Type.String({ maxLength: 200 })),
  },
  { additionalProperties: false },
);
export type SetActive = Static<typeof SetActive>;

export const RolloutView = Type.Object({
  id: Type.String(),
  environment: Type.String(),
  from_revision: Nullable(Type.Integer()),
  to_revision: Type.Integer(),
  strategy: Type.String(),
  restart: Type.Boolean(),
  state: Type.Union(
    [
      Type.Literal('in_progress'),
      Type.Literal('completed'),
      Type.Literal('aborted'),
      Type.Literal('superseded'),
    ],
    { description: '`in_progress`, `completed`, `aborted` or `superseded`' },
  ),
  reason: Nullable(Type.String()),
  created_by: Nullable(Type.String()),
  candidate_runner_id: Nullable(Type.String()),
  detail: Nullable(Type.String()),
  created_at: Type.String(),
  switched_at: Nullable(Type.String()),
  ended_at: Nullable(Type.String()),
});
export type RolloutView = Static<typeof RolloutView>;
export const RolloutList = Type.Object({ rollouts: Type.Array(RolloutView) });

export const ActiveRevisionView = Type.Intersect([RevisionView, Type.Object({ rollout: RolloutView })]);
export type ActiveRevisionView = Static<typeof ActiveRevisionView>;

export const StartRollout = Type.Object(
  {
    revision: Type.Optional(
      Type.Integer({ minimum: 1, description: 'revision number; default: the active one (a restart)' }),
    ),
    strategy: Type.Optional(Strategy),
    restart: Type.Optional(
      Type.Boolean({
        description: 'replace the runners of the active revision (e.g. after a secret change)',
      }),
    ),
    reason: Type.Optional(Type.String({ maxLength: 1000 })),
    by: Type.Optional(Type.String({ maxLength: 200, description: 'who asked: a user, `github:<login>`, …' })),
  },
  { additionalProperties: false },
);
export type StartRollout = Static<typeof StartRollout>;
export const RolloutsQuery = Type.Object({
  limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000, default: 50 })),
});

// ---- runners and requests ----

export const RunnerView = Type.Object({
  id: Type.String(),
  state: Type.String(),
  revision: Nullable(Type.Integer()),
  in_flight: Type.Integer(),
  created_at: Type.String(),
  state_changed_at: Type.String(),
  ready_at: Nullable(Type.String()),
  ended_at: Nullable(Type.String()),
  cold_start_ms: Nullable(Type.Number()),
  detail: Nullable(Type.String()),
  history: Type.Array(Type.Object({ state: Type.String(), at: Type.String() })),
});
export type RunnerView = Static<typeof RunnerView>;
export const RunnerList = Type.Object({ runners: Type.Array(RunnerView) });
export const RunnersQuery = Type.Object({
  ended_within_hours: Type.Optional(Type.Number({ minimum: 0, maximum: 24, default: 24 })),
});
export type RunnersQuery = Static<typeof RunnersQuery>;

export const RequestView = Type.Object({
  request_id: Type.String(),
  status: Type.String(),
  path: Type.String(),
  attempts: Type.Integer(),
  priority: Type.String(),
  result_status: Nullable(Type.Integer()),
  error: Nullable(Type.String()),
  error_type: Nullable(Type.String()),
  runner_id: Nullable(Type.String()),
  created_at: Type.String(),
  started_at: Nullable(Type.String()),
  completed_at: Nullable(Type.String()),
  inference_time: Nullable(Type.Number()),
  dead_lettered: Type.Boolean(),
});
export type RequestView = Static<typeof RequestView>;
export const RequestList = Type.Object({ requests: Type.Array(RequestView) });
export const DeadLetterList = Type.Object({
  dead_letter_queue_depth: Type.Integer(),
  requests: Type.Array(RequestView),
});
export const LimitQuery = Type.Object({
  limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000, default: 100 })),
});

export const QueueView = Type.Object({
  environment: Type.String(),
  queued: Type.Integer(),
  in_progress: Type.Integer(),
  oldest_queued_at: Nullable(Type.String()),
});
export type QueueView = Static<typeof QueueView>;
export const FlushView = Type.Object({ environment: Type.String(), cancelled: Type.Integer() });
export type FlushView = Static<typeof FlushView>;

// ---- logs ----

export const LogLine = Type.Object({
  seq: Type.Number(),
  request_id: Type.String(),
  timestamp: Type.String(),
  level: Type.String(),
  source: Type.String(),
  message: Type.String(),
});
export type LogLine = Static<typeof LogLine>;
/** The largest `seq` a log line can have; larger is refused (a bigint column cannot compare it). */
const MAX_SEQ = Number.MAX_SAFE_INTEGER;
export const RequestLogsQuery = Type.Object({
  after: Type.Optional(Type.Integer({ minimum: 0, maximum: MAX_SEQ, default: 0 })),
});
export const RequestLogs = Type.Object({
  request_id: Type.String(),
  status: Type.String(),
  logs: Type.Array(LogLine),
});
export type RequestLogs = Static<typeof RequestLogs>;
export const EnvLogsQuery = Type.Object({
  after: Type.Optional(
    Type.Integer({
      minimum: 0,
      maximum: MAX_SEQ,
      description: 'Lines after this `seq`; absent: the last `limit` lines',
    }),
  ),
  limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000, default: 200 })),
  wait_ms: Type.Optional(
    Type.Integer({ minimum: 0, maximum: 20_000, default: 0, description: 'Long poll when nothing is new' }),
  ),
});
export type EnvLogsQuery = Static<typeof EnvLogsQuery>;
/** An environment's line: a request's, or its runner's app output outside any request (setup, crash). */
export const EnvLogLine = Type.Object({
  seq: Type.Number(),
  request_id: Nullable(Type.String()),
  runner_id: Nullable(Type.String()),
  timestamp: Type.String(),
  level: Type.String(),
  source: Type.String(),
  message: Type.String(),
});
export type EnvLogLine = Static<typeof EnvLogLine>;
export const EnvLogs = Type.Object({ logs: Type.Array(EnvLogLine), next: Type.Number() });
export type EnvLogs = Static<typeof EnvLogs>;

// ---- events ----

export const EventView = Type.Object({
  seq: Type.Number({ description: 'the cursor: pass it as `after` to get what came next' }),
  at: Type.String(),
  type: Type.String({
    description:
      '`runner.state`, `rollout.started`, `rollout.completed`, `rollout.aborted`, `rollout.superseded`, `deploy`, `scaling.changed`, `runner.crash_loop`, `rollout.auto_rollback`, `request.dead_lettered`',
  }),
  message: Type.String(),
  runner_id: Nullable(Type.String()),
  revision: Nullable(Type.Integer()),
  data: Type.Object({}, { additionalProperties: true }),
});
export type EventView = Static<typeof EventView>;
export const EventsQuery = Type.Object({
  after: Type.Optional(
    Type.Integer({ minimum: 0, description: 'events after this cursor; absent: the last `limit` events' }),
  ),
  limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000, default: 100 })),
  follow: Type.Optional(
    Type.Boolean({
      default: false,
      description: 'stream as server-sent events and stay open; without `after`, from now on',
    }),
  ),
});
export type EventsQuery = Static<typeof EventsQuery>;
export const EventList = Type.Object({ events: Type.Array(EventView), next: Type.Number() });
export type EventList = Static<typeof EventList>;

// ---- secrets ----

export const SetSecrets = Type.Object(
  {
    secrets: Type.Record(Type.String(), Type.String(), {
      description: 'NAME: value; names are environment variable names',
    }),
  },
  { additionalProperties: false },
);
export const SecretChange = Type.Object({
  environment: Type.String(),
  names: Type.Array(Type.String()),
  restart_needed: Type.Boolean(),
  hint: Type.String(),
});
export type SecretChange = Static<typeof SecretChange>;
export const SecretList = Type.Object({
  environment: Type.String(),
  secrets: Type.Array(Type.Object({ name: Type.String(), updated_at: Type.String() })),
});
export type SecretList = Static<typeof SecretList>;

// ---- keys ----

export const KeyView = Type.Object({
  id: Type.String(),
  scope: Type.String(),
  owner: Nullable(Type.String()),
  description: Type.String(),
  created_at: Type.String(),
  apps: Nullable(Type.Array(Type.String(), { description: 'API keys: the apps it may call; null: any' })),
  environments: Nullable(
    Type.Array(Type.String(), { description: 'API keys: the environments it may call; null: any' }),
  ),
  expires_at: Nullable(Type.String({ description: 'when the key stops working; null: never' })),
  rate_limit: Nullable(Type.Integer({ description: 'submissions a minute; null: no limit' })),
});
export type KeyView = Static<typeof KeyView>;
export const CreatedKey = Type.Intersect([KeyView, Type.Object({ key: Type.String() })]);
export type CreatedKey = Static<typeof CreatedKey>;
export const KeyListView = Type.Intersect([
  KeyView,
  Type.Object({ requests: Type.Integer(), last_used_at: Nullable(Type.String()) }),
]);
export type KeyListView = Static<typeof KeyListView>;
export const KeyList = Type.Object({ keys: Type.Array(KeyListView) });
export const CreateKey = Type.Object(
  {
    scope: Type.Union(KeyScopeSchema.anyOf, {
      description: 'ADMIN (management, and calling any app) or API (calling apps)',
    }),
    owner: Type.Optional(
      Name(
        'API keys: owner whose private apps the key may call. ADMIN keys: the one owner whose apps the key may manage (unset: all)',
      ),
    ),
    description: Type.Optional(Type.String({ maxLength: 200 })),
    apps: Type.Optional(
      Type.Array(Type.String({ pattern: APP_ID }), {
        minItems: 1,
        maxItems: 100,
        description: 'API keys only: the apps (`owner/name`) the key may call',
      }),
    ),
    environments: Type.Optional(
      Type.Array(Name('Environment'), {
        minItems: 1,
        maxItems: 100,
        description: 'API keys only: the environments the key may call',
      }),
    ),
    expires_at: Type.Optional(
      Type.String({
        format: 'date-time',
        description: 'when the key stops working (ISO 8601, in the future)',
      }),
    ),
    rate_limit: Type.Optional(
      Type.Integer({ minimum: 1, maximum: 1_000_000, description: 'submissions a minute the key may make' }),
    ),
  },
  { additionalProperties: false },
);
export type CreateKey = Static<typeof CreateKey>;

// ---- audit log ----

export const AuditEntry = Type.Object({
  seq: Type.Integer(),
  at: Type.String(),
  actor: Type.String({ description: 'the key that made the call: `admin`, `key_…`, `github-app`, …' }),
  on_behalf_of: Nullable(Type.String({ description: 'who the caller acted for, e.g. `github:<login>`' })),
  action: Type.String({ description: '`key.create`, `secret.set`, `scaling.update`, `app.delete`, …' }),
  target: Type.String(),
  app: Nullable(Type.String()),
  environment: Nullable(Type.String()),
  status: Type.Integer({ description: 'the HTTP status the call ended with' }),
  ip: Nullable(Type.String()),
  detail: Type.Record(Type.String(), Type.Unknown()),
});
export type AuditEntry = Static<typeof AuditEntry>;
export const AuditList = Type.Object({
  entries: Type.Array(AuditEntry),
  next_before: Nullable(
    Type.Integer({ description: 'pass as `before` for the next (older) page; null: no more' }),
  ),
});
export type AuditList = Static<typeof AuditList>;
export const AuditQuery = Type.Object({
  app: Type.Optional(Type.String({ pattern: APP_ID, description: '`owner/name`' })),
  actor: Type.Optional(Type.String({ maxLength: 200, description: 'a key id or `github:<login>`' })),
  since: Type.Optional(Type.String({ format: 'date-time', description: 'entries at or after (ISO 8601)' })),
  before: Type.Optional(Type.Integer({ minimum: 1, description: 'entries older than this `seq`' })),
  limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000, default: 100 })),
});
export type AuditQuery = Static<typeof AuditQuery>;

// ---- builds ----

const REPOSITORY = '^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$';
const COMMIT = '^[0-9a-f]{7,64}$';
const DIGEST = '^sha256:[0-9a-f]{64}$';

export const BuildView = Type.Object({
  id: Type.String(),
  repository: Type.String(),
  commit_sha: Type.String(),
  ref: Nullable(Type.String()),
  image: Type.String({ description: 'the image by digest: `<repository>@sha256:…`' }),
  digest: Type.String(),
  content_hash: Nullable(Type.String()),
  registered_by: Type.String({ description: '`oidc:<subject>` or `key:<key id>`' }),
  created_at: Type.String(),
});
export type BuildView = Static<typeof BuildView>;
export const BuildList = Type.Object({ builds: Type.Array(BuildView) });

export const RegisterBuild = Type.Object(
  {
    repository: Type.String({ pattern: REPOSITORY, description: 'GitHub repository, `owner/name`' }),
    commit_sha: Type.String({ pattern: COMMIT, description: 'the commit the image was built from' }),
    ref: Type.Optional(Type.String({ maxLength: 1024, description: 'e.g. `refs/heads/main`' })),
    image: Type.String({ minLength: 1, maxLength: 1024, description: 'the image by digest' }),
    digest: Type.String({ pattern: DIGEST }),
    content_hash: Type.Optional(
      Type.String({ pattern: '^[0-9a-f]{64}$', description: 'sha256 of the build inputs' }),
    ),
  },
  { additionalProperties: false },
);
export type RegisterBuild = Static<typeof RegisterBuild>;

export const BuildsQuery = Type.Object({
  repository: Type.String({ pattern: REPOSITORY }),
  commit: Type.Optional(Type.String({ pattern: COMMIT })),
  limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000, default: 100 })),
});
export type BuildsQuery = Static<typeof BuildsQuery>;
