/**
 * Control's files routes: the signed URLs FilesService hands out come back here. No auth header:
 * the signature in the query string is the capability. Bodies are streams whatever their content
 * type (this scope drops fastify's parsers), so a file is never parsed, re-encoded or held whole.
 */

import type { Readable } from 'node:stream';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { Type } from 'typebox';
import { FILE_NAME_PARAM } from '../../../contract/src/app-files.ts';
import { GantryError } from '../../../contract/src/errors.ts';
import type { UploadedPart } from './files-driver.ts';
import { FILES_PREFIX, type FilesService } from './files-service.ts';
import { pathToKey } from './signed-url.ts';

export interface FilesRoutesOptions {
  files: FilesService;
  /** The URL callers reach control at, for the file URLs answered to apps' uploads. */
  baseUrl: (req: FastifyRequest) => string;
}

const TAGS = ['files'];
const Signed = Type.Object({ exp: Type.String(), sig: Type.String() }, { additionalProperties: true });
const query = (req: FastifyRequest) => req.query as Record<string, string | undefined>;

/** Longest JSON a multipart completion may send (10 000 parts of a few dozen bytes). */
const COMPLETE_BODY_LIMIT = 1024 * 1024;

export async function filesRoutes(app: FastifyInstance, o: FilesRoutesOptions): Promise<void> {
  const { files } = o;
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', (_req, payload, done) => done(null, payload));

  const keyOf = (req: FastifyRequest): string => {
    const key = pathToKey((req.params as { '*': string })['*']);
    if (!key) throw new GantryError('GANTRY_ERR_FILE_URL_INVALID');
    return key;
  };
  const lengthOf = (req: FastifyRequest): number | undefined => {
    const raw = req.headers['content-length'];
    if (raw === undefined) return undefined;
    const n = Number(raw);
    if (n > files.maxBytes) throw new GantryError('GANTRY_ERR_FILE_TOO_LARGE');
    return Number.isSafeInteger(n) && n >= 0 ? n : undefined;
  };
  const exp = (req: FastifyRequest) => Number(query(req).exp);
  const bodyOf = (req: FastifyRequest): Readable => (req.body as Readable | undefined) ?? req.raw;

  app.put(
    `${FILES_PREFIX}/u/*`,
    { schema: { tags: TAGS, summary: 'Upload a file to a signed upload_url', querystring: Signed } },
    async (req, reply) => {
      const key = keyOf(req);
      const ct = query(req).ct ?? '';
      files.check({ op: 'u', subject: key, exp: exp(req), extra: { ct } }, query(req).sig);
      await files.receiveUpload(key, ct, bodyOf(req), lengthOf(req));
      return reply.code(200).send();
    },
  );

  app.get(
    `${FILES_PREFIX}/f/*`,
    { schema: { tags: TAGS, summary: 'Read a file by its signed file_url', querystring: Signed } },
    async (req, reply) => {
      const key = keyOf(req);
      files.check({ op: 'f', subject: key, exp: exp(req) }, query(req).sig);
      const found = await files.read(key);
      if ('redirect' in found) return reply.redirect(found.redirect, 302);
      const name = key.slice(key.lastIndexOf('/') + 1);
      return reply
        .header('content-type', found.file.contentType)
        .header('content-length', found.file.size)
        .header('content-disposition', `inline; filename*=UTF-8''${encodeURIComponent(name)}`)
        .send(found.file.body);
    },
  );

  // Multipart: fal's client appends `/<part number>` and `/complete` to the upload_url's path.
  app.put(
    `${FILES_PREFIX}/m/*`,
    { schema: { tags: TAGS, summary: 'Upload one part of a multipart upload', querystring: Signed } },
    async (req) => {
      const { key, last } = splitLast(keyOf(req));
      const partNumber = Number(last);
      if (!Number.isInteger(partNumber) || partNumber < 1 || partNumber > 10_000) {
        throw new GantryError('GANTRY_ERR_BAD_UPLOAD_PARTS', `"${last}" is not a part number (1 to 10000).`);
      }
      const upload = query(req).upload ?? '';
      files.check({ op: 'm', subject: key, exp: exp(req), extra: { upload } }, query(req).sig);
      return files.receivePart(key, upload, partNumber, bodyOf(req), lengthOf(req));
    },
  );

  app.post(
    `${FILES_PREFIX}/m/*`,
    { schema: { tags: TAGS, summary: 'Complete a multipart upload', querystring: Signed } },
    async (req, reply) => {
      const { key, last } = splitLast(keyOf(req));
      if (last !== 'complete') throw new GantryError('GANTRY_ERR_ROUTE_NOT_FOUND');
      const upload = query(req).upload ?? '';
      files.check({ op: 'm', subject: key, exp: exp(req), extra: { upload } }, query(req).sig);
      const parts = parseParts(await readSmall(bodyOf(req), COMPLETE_BODY_LIMIT));
      await files.completeMultipart(key, upload, parts);
      return reply.code(200).send({ status: 'COMPLETED' });
    },
  );

  app.put(
    `${FILES_PREFIX}/o/:scope`,
    {
      schema: {
        tags: TAGS,
        summary: "An app's output file, to the URL its runner passed for one request",
        params: Type.Object({ scope: Type.String() }),
        querystring: Signed,
      },
    },
    async (req: FastifyRequest) => {
      const { scope } = req.params as { scope: string };
      const q = query(req);
      const keep = q.keep ?? '';
      files.check({ op: 'o', subject: scope, exp: exp(req), extra: { keep } }, q.sig);
      const contentType = req.headers['content-type'] ?? 'application/octet-stream';
      return files.receiveOutput(o.baseUrl(req), {
        scope,
        retentionS: Number(keep),
        fileName: q[FILE_NAME_PARAM] || 'file',
        contentType,
        body: bodyOf(req),
        ...sizeField(lengthOf(req)),
      });
    },
  );
}

function sizeField(size: number | undefined): { size?: number } {
  return size === undefined ? {} : { size };
}

function splitLast(path: string): { key: string; last: string } {
  const i = path.lastIndexOf('/');
  return { key: path.slice(0, Math.max(0, i)), last: path.slice(i + 1) };
}

async function readSmall(body: Readable, limit: number): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of body as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > limit) throw new GantryError('GANTRY_ERR_PAYLOAD_TOO_LARGE');
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString('utf8');
}

function parseParts(text: string): UploadedPart[] {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new GantryError('GANTRY_ERR_BAD_JSON');
  }
  const parts = (parsed as { parts?: unknown })?.parts;
  if (
    !Array.isArray(parts) ||
    parts.length === 0 ||
    !parts.every(
      (p) =>
        typeof p === 'object' &&
        p !== null &&
        Number.isInteger((p as UploadedPart).partNumber) &&
        typeof (p as UploadedPart).etag === 'string',
    )
  ) {
    throw new GantryError(
      'GANTRY_ERR_BAD_UPLOAD_PARTS',
      'The body must be {"parts": [{"partNumber": 1, "etag": "..."}, ...]}, as each part upload answered.',
    );
  }
  return (parts as UploadedPart[]).map((p) => ({ partNumber: p.partNumber, etag: p.etag }));
}
