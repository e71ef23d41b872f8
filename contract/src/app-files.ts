/**
 * Files between an app and Gantry: the header that hands the app, for one request, the URL its
 * output files go to, and fal's file object that the upload answers and results carry. The SDK
 * uses this file inside app images, so it imports nothing.
 */

/** Header (on the runner's `POST /<path>` to the app) naming where the app PUTs output files. */
export const FILES_URL_HEADER = 'x-gantry-files-url';

/** Query parameter of that URL that names the file being uploaded. */
export const FILE_NAME_PARAM = 'file_name';

/** fal's file object: what an upload answers and what a result holds for a file. */
export interface FalFile {
  url: string;
  content_type: string;
  file_name: string;
  file_size: number;
}
