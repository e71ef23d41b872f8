/** Gantry's app SDK: the public API. */
export {
  type AppDefinition,
  defineApp,
  type EndpointHandler,
  type GantryApp,
  type ListeningApp,
  type RequestContext,
  type RunAppOptions,
  runApp,
} from './define-app.ts';
export { HttpError } from './http-error.ts';
export { parseRequestLogPrefix, prefixLines, requestLogPrefix } from './log-prefix.ts';
