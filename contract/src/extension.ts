/**
 * The port through which control composes an extension (the GitHub App is the first). Control
 * defines what it hands over; an extension sees nothing else of control. Only the process entry
 * (`control/src/main.ts`) decides which extensions run, so control never imports one.
 */
import type { FastifyBaseLogger, FastifyInstance } from 'fastify';

export interface SqlResult<T> {
  rows: T[];
  rowCount: number;
}

/**
 * The SQL surface an extension may use: the same database as control, PGlite or PostgreSQL, with
 * the same dialect. sql/'s clients satisfy it. An extension keeps to its own tables and its own
 * migrations table; control's tables are control's.
 */
export interface SqlHandle {
  query<T = Record<string, unknown>>(sql: string, params?: unknown[]): Promise<SqlResult<T>>;
  /** Several statements, no parameters (migrations). */
  exec(sql: string): Promise<void>;
  /** Runs fn in one transaction; every statement inside goes through fn's handle. */
  transaction<T>(fn: (tx: SqlHandle) => Promise<T>): Promise<T>;
  readonly kind: 'pglite' | 'postgres';
}

/**
 * Control's management API reached in process, with an admin key control minted for this
 * extension at start (kept only in memory, replaced at every start). It has the options of the
 * management API's HTTP client, so an extension builds that one typed client from it; calls
 * never leave the process.
 */
export interface AdminConnection {
  url: string;
  key: string;
  fetch: typeof fetch;
}

/** A build control just stored (`POST /v1/builds` created it). */
export interface RegisteredBuild {
  id: string;
  repository: string;
  commit_sha: string;
  image: string;
  digest: string;
}

/** What control hands an extension when it mounts it. */
export interface ExtensionHost {
  /** A fastify scope under the extension's prefix; control's error handler and catalogue apply. */
  routes: FastifyInstance;
  admin: AdminConnection;
  sql: SqlHandle;
  log: FastifyBaseLogger;
  clock: () => number;
  /** Control's URL as callers reach it (known only once control listens, hence a function). */
  publicUrl: () => string;
}

/** Hooks control calls on a mounted extension. */
export interface MountedExtension {
  /** A build was registered. Control does not wait for it; failures are the extension's to log. */
  buildRegistered?(build: RegisteredBuild): Promise<void>;
  /**
   * Whether a GitHub OIDC token of this repository (`owner/name`) may register builds, asked when
   * control's GANTRY_BUILD_REPOSITORIES is unset: the GitHub App answers "where it is installed".
   * Rejects when it cannot tell (GitHub unreachable).
   */
  mayRegisterBuilds?(repository: string): Promise<boolean>;
  /** Control is closing: finish in-flight work and stop timers; the SQL handle closes after this. */
  close?(): Promise<void>;
}

export interface ControlExtension {
  /** Names the extension in logs and names its admin key. */
  readonly name: string;
  /** Where its routes are served, e.g. `/api/github`. */
  readonly prefix: string;
  /** Called once while control builds, before it serves anything. */
  mount(host: ExtensionHost): Promise<MountedExtension>;
}
