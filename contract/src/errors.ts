/**
 * Whose fault an error is. `client`: the call is wrong as it stands and repeating it gets the same
 * answer; `server`: control (or what it depends on) failed, and the same call may succeed later.
 * Clients retry only `server` faults.
 */
export type Fault = 'client' | 'server';

/**
 * The catalogue of errors a user of the control service can see. Each has a stable code, an HTTP
 * status and a default message that says what to do. Codes never change meaning once published;
 * docs/errors.md documents every one (a test keeps the two in step).
 */
export const ERRORS = {
  GANTRY_ERR_BAD_JSON: { status: 400, fault: 'client', message: 'The request body is not valid JSON.' },
  GANTRY_ERR_JSON_TOO_DEEP: {
    status: 400,
    fault: 'client',
    message: 'The request body nests arrays and objects too deeply (at most 256 levels).',
  },
  GANTRY_ERR_VALIDATION: { status: 400, fault: 'client', message: 'The request is not valid.' },
  GANTRY_ERR_INVALID_SETTING: {
    status: 400,
    fault: 'client',
    message: 'A setting is outside its allowed range.',
  },
  GANTRY_ERR_UNAUTHORIZED: {
    status: 401,
    fault: 'client',
    message: 'A valid key is required: send `Authorization: Key <key>`.',
  },
  GANTRY_ERR_FORBIDDEN: { status: 403, fault: 'client', message: 'This key may not do that.' },
  GANTRY_ERR_KEY_EXPIRED: {
    status: 401,
    fault: 'client',
    message: 'This key has expired: create a new one with `gantry keys create`.',
  },
  GANTRY_ERR_KEY_SCOPE: {
    status: 403,
    fault: 'client',
    message:
      'This key is limited to other apps, environments or owners: use a key whose scope covers this call.',
  },
  GANTRY_ERR_KEY_PROTECTED: {
    status: 409,
    fault: 'client',
    message: 'The admin key comes from GANTRY_ADMIN_KEY or <data dir>/admin.key; change it there.',
  },
  GANTRY_ERR_REPOSITORY_NOT_ALLOWED: {
    status: 403,
    fault: 'client',
    message:
      'This repository may not register builds: add it or its owner to GANTRY_BUILD_REPOSITORIES on control.',
  },
  GANTRY_ERR_CSRF: {
    status: 403,
    fault: 'client',
    message:
      'This change came with the console session cookie but without its `x-gantry-csrf` token: reload the console and try again, or send `Authorization: Key <key>` instead.',
  },
  GANTRY_ERR_INVALID_TOKEN: {
    status: 401,
    fault: 'client',
    message:
      'The OIDC token is not valid: the Action must request it with `id-token: write` and the audience control expects.',
  },
  GANTRY_ERR_REPOSITORY_MISMATCH: {
    status: 403,
    fault: 'client',
    message:
      "The token's repository is not the build's repository: register builds from their own repository.",
  },
  GANTRY_ERR_WEBHOOK_SIGNATURE: {
    status: 401,
    fault: 'client',
    message:
      'The webhook delivery has no valid `x-hub-signature-256`: GitHub must sign it with the WEBHOOK_SECRET control has.',
  },
  GANTRY_ERR_APP_NOT_FOUND: { status: 404, fault: 'client', message: 'No such app.' },
  GANTRY_ERR_ENVIRONMENT_NOT_FOUND: {
    status: 404,
    fault: 'client',
    message: 'No such environment for this app.',
  },
  GANTRY_ERR_REVISION_NOT_FOUND: { status: 404, fault: 'client', message: 'No such revision.' },
  GANTRY_ERR_REQUEST_NOT_FOUND: { status: 404, fault: 'client', message: 'No such request for this app.' },
  GANTRY_ERR_RUNNER_NOT_FOUND: { status: 404, fault: 'client', message: 'No such runner.' },
  GANTRY_ERR_RUNNER_ENDED: {
    status: 410,
    fault: 'client',
    message: 'This runner has ended; its token no longer takes work. The runner should exit.',
  },
  GANTRY_ERR_SECRET_NOT_FOUND: {
    status: 404,
    fault: 'client',
    message: 'No such secret in this environment.',
  },
  GANTRY_ERR_KEY_NOT_FOUND: { status: 404, fault: 'client', message: 'No such key.' },
  GANTRY_ERR_ROUTE_NOT_FOUND: { status: 404, fault: 'client', message: 'No such route.' },
  GANTRY_ERR_APP_EXISTS: { status: 409, fault: 'client', message: 'An app with that name already exists.' },
  GANTRY_ERR_ENVIRONMENT_EXISTS: {
    status: 409,
    fault: 'client',
    message: 'The app already has that environment.',
  },
  GANTRY_ERR_ENVIRONMENT_PROTECTED: {
    status: 409,
    fault: 'client',
    message: 'The production environment is deleted only with its app.',
  },
  GANTRY_ERR_REVISION_ACTIVE: {
    status: 409,
    fault: 'client',
    message: 'That revision is active: roll back or deploy another one before deleting it.',
  },
  GANTRY_ERR_REVISION_FAILED: {
    status: 409,
    fault: 'client',
    message: 'That revision failed to start; it cannot be made active.',
  },
  GANTRY_ERR_NO_ACTIVE_REVISION: {
    status: 409,
    fault: 'client',
    message: 'This environment has no active revision: deploy one first.',
  },
  GANTRY_ERR_REQUEST_NOT_COMPLETED: {
    status: 400,
    fault: 'client',
    message: 'The request has not completed yet: poll its status_url first.',
  },
  GANTRY_ERR_REQUEST_CANCELLED: {
    status: 400,
    fault: 'client',
    message: 'The request was cancelled before it ran.',
  },
  GANTRY_ERR_PAYLOAD_TOO_LARGE: {
    status: 413,
    fault: 'client',
    message: 'The request body is larger than the limit.',
  },
  GANTRY_ERR_UNSUPPORTED_MEDIA_TYPE: {
    status: 415,
    fault: 'client',
    message: 'Send the input as JSON with `content-type: application/json`.',
  },
  GANTRY_ERR_BAD_PROXY_TARGET: {
    status: 400,
    fault: 'client',
    message: 'The `x-fal-target-url` header must name a queue.fal.run or fal.run URL.',
  },
  GANTRY_ERR_SYNC_TIMEOUT: {
    status: 504,
    fault: 'server',
    message: 'The request did not complete in time for a synchronous answer; it is still queued.',
  },
  GANTRY_ERR_IDEMPOTENCY_KEY_REUSED: {
    status: 422,
    fault: 'client',
    message: 'This Idempotency-Key was used for a different submit or run.',
  },
  GANTRY_ERR_QUEUE_FULL: {
    // The caller's limit was fine; the queue is long now and may be short later.
    status: 429,
    fault: 'server',
    message: 'The queue is longer than this request allows (fal_max_queue_length): try again later.',
  },
  GANTRY_ERR_RATE_LIMITED: {
    // The key was fine; it sent too many requests this minute and may send again shortly.
    status: 429,
    fault: 'server',
    message: 'This key sent more requests than its rate limit allows: try again after `retry-after` seconds.',
  },
  GANTRY_ERR_BAD_WEBHOOK_URL: {
    status: 400,
    fault: 'client',
    message: 'fal_webhook must be an http(s) URL that resolves to a public address.',
  },
  GANTRY_ERR_GITHUB_UNAVAILABLE: {
    status: 503,
    fault: 'server',
    message:
      'Control could not ask GitHub whether its App is installed on the repository: try again, or list the repository in GANTRY_BUILD_REPOSITORIES.',
  },
  GANTRY_ERR_QUEUE_UNAVAILABLE: {
    status: 503,
    fault: 'server',
    message: 'The queue service did not take the request: try again shortly.',
  },
  GANTRY_ERR_FILE_TOO_LARGE: {
    status: 413,
    fault: 'client',
    message: 'The file is larger than the upload limit (GANTRY_FILES_MAX_BYTES).',
  },
  GANTRY_ERR_FILE_URL_INVALID: {
    status: 403,
    fault: 'client',
    message: 'The file URL is not one control signed, or it was changed: use the URL exactly as given.',
  },
  GANTRY_ERR_FILE_URL_EXPIRED: {
    status: 403,
    fault: 'client',
    message: 'The upload URL has run out: initiate the upload again for a fresh one.',
  },
  GANTRY_ERR_FILE_EXPIRED: {
    status: 410,
    fault: 'client',
    message: 'The file was removed when its retention (GANTRY_RETENTION) ran out.',
  },
  GANTRY_ERR_FILE_NOT_FOUND: {
    status: 404,
    fault: 'client',
    message: 'No file was uploaded to this URL (yet): PUT the bytes to its upload_url first.',
  },
  GANTRY_ERR_BAD_UPLOAD_PARTS: {
    status: 400,
    fault: 'client',
    message:
      "The parts named to complete the upload are not the parts uploaded: send each part's etag as answered.",
  },
  GANTRY_ERR_FILE_OTHER_ENVIRONMENT: {
    status: 400,
    fault: 'client',
    message:
      'The input names a file of another environment: pass files of this environment, or upload it again.',
  },
  GANTRY_ERR_REQUEST_EXPIRED: {
    status: 410,
    fault: 'client',
    message: "The request's input and result were removed when its retention (GANTRY_RETENTION) ran out.",
  },
  GANTRY_ERR_INTERNAL: {
    status: 500,
    fault: 'server',
    message: 'Internal error. The log of the control service says more.',
  },
} as const satisfies Record<string, { status: number; fault: Fault; message: string }>;

export type ErrorCode = keyof typeof ERRORS;

/** An error meant for the user: rendered as `{code, message, detail}` with the catalogue's status. */
export class GantryError extends Error {
  readonly code: ErrorCode;
  readonly statusCode: number;
  readonly extra: Record<string, unknown>;

  constructor(code: ErrorCode, message?: string, extra: Record<string, unknown> = {}) {
    super(message ?? ERRORS[code].message);
    this.name = 'GantryError';
    this.code = code;
    this.statusCode = ERRORS[code].status;
    this.extra = extra;
  }

  /**
   * The body sent to callers. `detail` repeats the message because fal's Python client reads
   * `detail` while its JS client reads `message`; both show the same words.
   */
  toBody(): Record<string, unknown> {
    return { code: this.code, message: this.message, detail: this.message, ...this.extra };
  }
}
