/**
 * Inputs and results are kept as the bytes that were sent (see migration 11). What reads them as
 * values (webhooks, error texts, an operator's view of a request) decodes them here.
 */
import type { RequestRecord } from './domain.ts';

/** Bytes as a value: parsed when the content type is JSON, text when it is text, else a note of what they are. */
export function decodeBody(raw: Uint8Array, contentType: string | null | undefined): unknown {
  const type = contentType ?? 'application/octet-stream';
  if (/[/+]json\b/i.test(type)) {
    const text = Buffer.from(raw).toString('utf8');
    try {
      return JSON.parse(text);
    } catch {
      return text;
    }
  }
  if (/^text\//i.test(type)) return Buffer.from(raw).toString('utf8');
  return `(${raw.byteLength} bytes of ${type})`;
}

/** The request's input as a value, from its bytes when they were kept. */
export function inputValue(rec: Pick<RequestRecord, 'input' | 'input_raw' | 'input_content_type'>): unknown {
  return rec.input_raw ? decodeBody(rec.input_raw, rec.input_content_type) : (rec.input ?? null);
}

/** The request's result as a value, from the app's bytes when they were kept. */
export function resultValue(
  rec: Pick<RequestRecord, 'result_body' | 'result_raw' | 'result_content_type'>,
): unknown {
  return rec.result_raw ? decodeBody(rec.result_raw, rec.result_content_type) : (rec.result_body ?? null);
}
