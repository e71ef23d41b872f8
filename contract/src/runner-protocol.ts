/**
 * The runner protocol: what a runner and the control service say to each other over HTTP.
 *
 * This file is control's published contract. The runner imports it (and runner-client.ts); neither
 * side re-declares these shapes. Ownership: the runner owns a job from the moment `pull` hands it
 * out until it reports a result; only the runner extends a job's lease (heartbeat); only control
 * decides whether a failed attempt is retried.
 */
import { type Static, type TLiteral, type TUnion, Type } from 'typebox';

export { FILES_URL_HEADER } from './app-files.ts';

/**
 * `Type.Union(values.map(Type.Literal))` types as `never` (an array, not a tuple, of literals);
 * this keeps the same schema and gives the union of the values as its static type.
 */
function literalUnion<const T extends readonly string[]>(
  values: T,
): TUnion<{ -readonly [K in keyof T]: TLiteral<T[K]> }> {
  return Type.Union(values.map((v) => Type.Literal(v))) as unknown as TUnion<{
    -readonly [K in keyof T]: TLiteral<T[K]>;
  }>;
}

/** Runner lifecycle states, in fal's names. */
export const RUNNER_STATES = [
  'PENDING',
  'PULLING',
  'SETUP',
  'IDLE',
  'RUNNING',
  'DRAINING',
  'TERMINATING',
  'TERMINATED',
  'CRASH_BACKOFF',
] as const;
export type RunnerState = (typeof RUNNER_STATES)[number];
export const RunnerStateSchema = literalUnion(RUNNER_STATES);

/** States a runner may report about itself; the rest are set by control or compute. */
export const RunnerReportedState = literalUnion([
  'PULLING',
  'SETUP',
  'IDLE',
  'RUNNING',
  'DRAINING',
  'TERMINATING',
  'TERMINATED',
] as const);
export type RunnerReportedState = Static<typeof RunnerReportedState>;

export const StateReport = Type.Object({
  state: RunnerReportedState,
  in_flight: Type.Optional(Type.Integer({ minimum: 0 })),
  /** Why the runner is in this state, e.g. the error that ended setup. */
  detail: Type.Optional(Type.String({ maxLength: 4000 })),
});
export type StateReport = Static<typeof StateReport>;

export const PullRequestBody = Type.Object({
  /** How many jobs the runner can take now (free multiplexing slots). */
  max: Type.Integer({ minimum: 1, maximum: 100 }),
  /** Long-poll: how long control may hold the call open when nothing is queued. */
  wait_ms: Type.Integer({ minimum: 0, maximum: 20_000 }),
});
export type PullRequestBody = Static<typeof PullRequestBody>;

export const Job = Type.Object({
  /** Opaque handle for this delivery; heartbeat and result name it. */
  receipt: Type.String(),
  request_id: Type.String(),
  /** Endpoint path inside the app, without a leading slash ('' for the root endpoint). */
  path: Type.String(),
  /** The input as JSON, for a job whose exact bytes are not given (`input_base64`). */
  input: Type.Unknown(),
  /**
   * The input exactly as the caller sent it (base64), with its content type: the runner forwards
   * these bytes, so key order, spacing and non-JSON bodies reach the app unchanged.
   */
  input_base64: Type.Optional(Type.String()),
  content_type: Type.Optional(Type.String()),
  /**
   * Where the app PUTs output files while it serves this request (a signed control URL, passed to
   * the app as `x-gantry-files-url`); each PUT answers fal's file object.
   */
  files_url: Type.Optional(Type.String()),
  /** 1 for the first attempt. */
  attempt: Type.Integer({ minimum: 1 }),
  /** Seconds the app may take for this attempt before it is abandoned. */
  timeout_s: Type.Number({ exclusiveMinimum: 0 }),
  /** Seconds the lease lasts unless the runner heartbeats. */
  lease_s: Type.Number({ exclusiveMinimum: 0 }),
  /**
   * Control would retry this attempt if it ended without an answer: the runner may then resend it
   * once itself when a reused connection to the app broke before any answer. Absent (older
   * controls, `x-fal-no-retry`, last attempt): never resent.
   */
  retryable: Type.Optional(Type.Boolean()),
});
export type Job = Static<typeof Job>;

export const PullResponse = Type.Object({
  jobs: Type.Array(Job),
  /** Control wants this runner gone: stop pulling, finish in-flight work, exit. */
  drain: Type.Boolean(),
});
export type PullResponse = Static<typeof PullResponse>;

export const HeartbeatBody = Type.Object({
  receipts: Type.Array(Type.String()),
  in_flight: Type.Integer({ minimum: 0 }),
  /**
   * The runner received these messages from SQS itself and extends their visibility itself:
   * control only checks that the requests are still this runner's (and passes on cancels).
   */
  direct: Type.Optional(Type.Boolean()),
});
export type HeartbeatBody = Static<typeof HeartbeatBody>;

export const HeartbeatResponse = Type.Object({
  /** Requests whose caller asked to cancel them; the runner tells the app and stops waiting. */
  cancel: Type.Array(Type.String()),
  /** Receipts control no longer recognises (request completed elsewhere): drop them. */
  lost: Type.Array(Type.String()),
  drain: Type.Boolean(),
});
export type HeartbeatResponse = Static<typeof HeartbeatResponse>;

export const LOG_LEVELS = ['STDOUT', 'STDERR', 'INFO', 'WARN', 'ERROR', 'DEBUG'] as const;
export const LogLine = Type.Object({
  /** Absent for lines that belong to the runner, not to one request. */
  request_id: Type.Optional(Type.String()),
  message: Type.String({ maxLength: 16_384 }),
  level: literalUnion(LOG_LEVELS),
  source: Type.Union([Type.Literal('user'), Type.Literal('gantry')]),
  timestamp: Type.String(),
});
export type LogLine = Static<typeof LogLine>;

export const LogsBody = Type.Object({ logs: Type.Array(LogLine, { maxItems: 1000 }) });
export type LogsBody = Static<typeof LogsBody>;

/**
 * How an attempt ended, as the runner saw it. Control maps this (with the attempt count and the
 * request's retry setting) to "completed" or "retry".
 */
export const ATTEMPT_OUTCOMES = ['response', 'timeout', 'crash', 'connection_error', 'cancelled'] as const;
export type AttemptOutcome = (typeof ATTEMPT_OUTCOMES)[number];

export const ResultBody = Type.Object({
  receipt: Type.String(),
  request_id: Type.String(),
  outcome: literalUnion(ATTEMPT_OUTCOMES),
  /** The app's HTTP status, when it answered. */
  status_code: Type.Optional(Type.Integer()),
  /**
   * The app's response body decoded (JSON when it answered JSON, otherwise text). Runners send
   * `body_base64` instead; control still reads this from runners that predate it.
   */
  body: Type.Optional(Type.Unknown()),
  /** The app's response body, byte for byte (base64). */
  body_base64: Type.Optional(Type.String()),
  content_type: Type.Optional(Type.String()),
  /**
   * The app answered server-sent events, already relayed to control as they came (the `stream`
   * route); the body here is the last event's data, the request's result on the queue path.
   */
  streamed: Type.Optional(Type.Boolean()),
  /** For outcomes other than `response`: what went wrong, in words. */
  error: Type.Optional(Type.String({ maxLength: 8000 })),
  started_at: Type.String(),
  finished_at: Type.String(),
  /** The runner received the message from SQS itself: control leaves the message to the runner. */
  direct: Type.Optional(Type.Boolean()),
  /**
   * The request's log lines not yet shipped, riding with the result: one call instead of two, and
   * the caller who sees COMPLETED sees every line.
   */
  logs: Type.Optional(Type.Array(LogLine, { maxItems: 1000 })),
});
export type ResultBody = Static<typeof ResultBody>;

/**
 * What the holder of a message does with it now (direct SQS runners only): `delete` once control
 * recorded the outcome, `release` to make it visible again at once, `none` when control already
 * settled it (a retry goes back on the queue through control, so every retry path is one path).
 */
export const MessageAction = Type.Union([
  Type.Literal('delete'),
  Type.Literal('release'),
  Type.Literal('none'),
]);
export type MessageAction = Static<typeof MessageAction>;

export const ResultResponse = Type.Object({
  /** false when the request had already completed (a duplicate or late attempt): nothing changed. */
  recorded: Type.Boolean(),
  /** What control decided: the request is done, or goes back to the queue. */
  decision: Type.Union([Type.Literal('completed'), Type.Literal('retry'), Type.Literal('ignored')]),
  /** For direct results: what the runner does with the message. */
  message: Type.Optional(MessageAction),
});
export type ResultResponse = Static<typeof ResultResponse>;

/**
 * A direct SQS runner received a message and asks control to start the attempt. Control answers
 * with the job (payload from the store) or tells the runner what to do with a message it must not
 * run: `delete` (the request completed, was cancelled or missed its start deadline) or `release`
 * (this runner is draining: someone else should take it).
 */
export const ClaimBody = Type.Object({
  receipt: Type.String(),
  request_id: Type.String(),
});
export type ClaimBody = Static<typeof ClaimBody>;

export const ClaimResponse = Type.Object({
  job: Type.Optional(Job),
  message: MessageAction,
  drain: Type.Boolean(),
});
export type ClaimResponse = Static<typeof ClaimResponse>;

/** Routes, relative to the control URL. `{id}` is the runner id. */
export const RUNNER_ROUTES = {
  state: '/internal/v1/runners/:id/state',
  pull: '/internal/v1/runners/:id/pull',
  heartbeat: '/internal/v1/runners/:id/heartbeat',
  logs: '/internal/v1/runners/:id/logs',
  result: '/internal/v1/runners/:id/results',
  claim: '/internal/v1/runners/:id/claim',
  /**
   * The app's server-sent events for one request, relayed as they arrive: a POST whose body is
   * the event stream itself (`content-type: text/event-stream`), open while the app streams.
   * Control answers 204 once it has the whole stream, or 200 `{cancel: true}` as soon as the
   * caller hangs up (see StreamResponse).
   */
  stream: '/internal/v1/runners/:id/requests/:request_id/events',
} as const;

/**
 * Control's answer to a runner's event stream. `cancel`: the caller hung up, the request is
 * cancelled; the runner passes the cancel to the app at once (it may answer before the stream ends).
 */
export interface StreamResponse {
  cancel: boolean;
}

/**
 * The event a broken stream ends with (the app broke off mid-stream, or timed out): its data is
 * `{detail, error_type}`, and the caller's connection is then closed without a clean end.
 */
export const STREAM_ERROR_EVENT = 'error';

/**
 * Environment variables compute drivers set for a runner. The runner reads them once, in its own
 * loadConfig; names live here so both sides agree.
 */
export const RUNNER_ENV = {
  controlUrl: 'GANTRY_CONTROL_URL',
  runnerId: 'GANTRY_RUNNER_ID',
  /** Bearer token for the runner protocol, scoped to this runner. */
  token: 'GANTRY_RUNNER_TOKEN',
  /**
   * The token sealed under the environment's runner key (contract/src/runner-token-seal.ts), in
   * place of `token` where the driver's calls are visible to others (ECS RunTask overrides).
   */
  sealedToken: 'GANTRY_RUNNER_TOKEN_SEALED',
  /** The key that opens `sealedToken`; ECS puts it in from Secrets Manager (never in an API call). */
  runnerKey: 'GANTRY_RUNNER_KEY',
  /** JSON array: argv of the app process. Absent when the app runs beside the runner (ECS sidecar). */
  appCommand: 'GANTRY_APP_COMMAND',
  /** Working directory for the app process. */
  appCwd: 'GANTRY_APP_CWD',
  /** Port the app listens on (passed to the app as PORT). */
  appPort: 'GANTRY_APP_PORT',
  maxMultiplexing: 'GANTRY_MAX_MULTIPLEXING',
  startupTimeoutS: 'GANTRY_STARTUP_TIMEOUT',
  /** Seconds the runner may take to finish in-flight work after SIGTERM. */
  drainGraceS: 'GANTRY_DRAIN_GRACE',
  /**
   * JSON `{path, input, expect_status}`: given to a rollout's candidate only. The runner calls the
   * app with it once healthy and reports ready only if the answer has that status (the deploy gate).
   */
  smoke: 'GANTRY_SMOKE_REQUEST',
  /**
   * The environment's SQS queues (normal and low priority), when the queue is SQS: the runner then
   * long-polls them itself and asks control to `claim` each message. AWS settings (AWS_REGION,
   * credentials, AWS_ENDPOINT_URL_SQS) reach the runner as the SDK's own variables.
   */
  sqsQueueUrl: 'GANTRY_SQS_QUEUE_URL',
  sqsLowQueueUrl: 'GANTRY_SQS_LOW_QUEUE_URL',
  /** Seconds a received message stays hidden without a heartbeat (control's lease). */
  leaseS: 'GANTRY_LEASE_SECONDS',
  /**
   * `stdin`: the app runs in a container of its own and the compute driver relays its output on the
   * runner's stdin; `http`: a log router posts it to the runner (ECS FireLens); both in
   * contract/src/app-output-relay.ts. Unset: the runner reads the app it started.
   */
  appOutput: 'GANTRY_APP_OUTPUT',
  /**
   * Comma-separated names of variables meant for the runner alone: the runner uses them and leaves
   * them, and this list, out of the app's env. Everything that arrives on `secretsFd` counts too.
   */
  runnerOnly: 'GANTRY_RUNNER_ONLY_ENV',
  /**
   * The number of an inherited file descriptor (the process driver's) carrying a JSON object of
   * variables for the runner alone (its token, control's AWS settings), read to its end at start.
   * What comes this way is never in the runner's exec environment, which any process of the same
   * user (its app) can read from /proc/<pid>/environ, and never reaches the app.
   */
  secretsFd: 'GANTRY_RUNNER_SECRETS_FD',
  /** With `appOutput=http`: the loopback port the runner takes the log router's posts on. */
  appOutputPort: 'GANTRY_APP_OUTPUT_PORT',
} as const;
