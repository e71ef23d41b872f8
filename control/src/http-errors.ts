/**
 * How control answers a failure over HTTP: every error becomes the catalogue's `{code, message,
 * detail}` with its status (contract/src/errors.ts), and an unknown route a GANTRY_ERR_ROUTE_NOT_FOUND.
 * Only an error no one expected is logged, and its details stay in the log.
 */
import type { FastifyInstance, FastifyReply, FastifyServerOptions } from 'fastify';
import { type ErrorCode, GantryError } from '../../contract/src/errors.ts';

/** Fastify's own error codes that a caller can cause, mapped onto the catalogue. */
const FASTIFY_CODES: Record<string, ErrorCode> = {
  FST_ERR_CTP_BODY_TOO_LARGE: 'GANTRY_ERR_PAYLOAD_TOO_LARGE',
  FST_ERR_CTP_INVALID_MEDIA_TYPE: 'GANTRY_ERR_UNSUPPORTED_MEDIA_TYPE',
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: 'GANTRY_ERR_VALIDATION',
  FST_ERR_CTP_EMPTY_JSON_BODY: 'GANTRY_ERR_BAD_JSON',
};

/** For fastify's `frameworkErrors`: errors raised before routing (a malformed URL, say). */
export const frameworkErrors: FastifyServerOptions['frameworkErrors'] = (err, _req, reply) => {
  const e = new GantryError('GANTRY_ERR_VALIDATION', err.message);
  void (reply as unknown as FastifyReply).code(400).type('application/json').send(e.toBody());
};

/** Installs the error and not-found handlers on the root instance. */
export function registerErrorHandling(app: FastifyInstance, o: { bodyLimit: number }): void {
  app.setErrorHandler((err, req, reply) => {
    let e: GantryError;
    const fe = err as { code?: string; validation?: unknown; message: string; statusCode?: number };
    if (err instanceof GantryError) e = err;
    else if (fe.validation) e = new GantryError('GANTRY_ERR_VALIDATION', fe.message);
    else if (fe.code && FASTIFY_CODES[fe.code]) e = new GantryError(FASTIFY_CODES[fe.code]!);
    else if (fe.statusCode && fe.statusCode >= 400 && fe.statusCode < 500)
      e = new GantryError('GANTRY_ERR_VALIDATION', fe.message);
    else {
      req.log.error({ err }, 'unhandled error');
      e = new GantryError('GANTRY_ERR_INTERNAL');
    }
    if (e.statusCode === 413 && e.code === 'GANTRY_ERR_PAYLOAD_TOO_LARGE') {
      e = new GantryError(
        'GANTRY_ERR_PAYLOAD_TOO_LARGE',
        `The request body is larger than the limit of ${o.bodyLimit} bytes.`,
      );
    }
    // A refusal that passes (rate limits) says when to come back, as HTTP clients expect.
    const retryAfter = e.extra.retry_after_seconds;
    if (typeof retryAfter === 'number') reply.header('retry-after', String(retryAfter));
    return reply.code(e.statusCode).type('application/json').send(e.toBody());
  });
  app.setNotFoundHandler((req, reply) => {
    const e = new GantryError(
      'GANTRY_ERR_ROUTE_NOT_FOUND',
      `No route ${req.method} ${req.url.split('?')[0]}.`,
    );
    return reply.code(e.statusCode).send(e.toBody());
  });
}
