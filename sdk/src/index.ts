/** Gantry's app SDK: the public API. */

export type { FalFile } from '../../contract/src/app-files.ts';
export { parseRequestLogPrefix, prefixLines, requestLogPrefix } from '../../contract/src/app-log-prefix.ts';
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
export { type FileData, type UploadFileOptions, uploadFile } from './output-files.ts';
export { RawResponse } from './raw-response.ts';
