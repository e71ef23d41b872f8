/**
 * The shapes the console reads: the management API's from contract/ (types only: nothing of
 * contract/ is bundled), and those of routes only the console uses (contract/src/console-api.ts:
 * its session, a request's detail, the last hour's series, cost).
 */

import type { SessionView } from '../../contract/src/console-api.ts';

export type Scope = SessionView['scope'];
export type Session = SessionView;

export type { CostView, SeriesView } from '../../contract/src/console-api.ts';
/** A line of an environment's logs: a request's, or its runner's own output (then `request_id` is null). */
export type {
  AppView,
  EnvironmentView,
  EnvLogLine as LogLine,
  EventView,
  QueueView,
  RequestView,
  RevisionView,
  RolloutView,
  RunnerView,
} from '../../contract/src/management-api.ts';

import type { RequestDetail as RequestDetailView } from '../../contract/src/console-api.ts';

/** One request with its input and result (GET …/requests/:id). */
export type RequestDetail = RequestDetailView;
