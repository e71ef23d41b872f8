/**
 * An endpoint's answer as bytes with their own content type (an image, audio), sent as is rather
 * than as JSON. Gantry keeps it byte for byte on the queue and the sync path.
 */
export class RawResponse {
  readonly body: Uint8Array;
  readonly contentType: string;
  readonly status: number;

  constructor(body: Uint8Array | string, contentType: string, status = 200) {
    this.body = typeof body === 'string' ? new TextEncoder().encode(body) : body;
    this.contentType = contentType;
    this.status = status;
  }
}
