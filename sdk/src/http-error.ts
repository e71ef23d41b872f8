/** Throw from an endpoint to answer with this status and `{detail}` instead of a 500. */
export class HttpError extends Error {
  override readonly name = 'HttpError';
  // Plain fields, not parameter properties: images run the SDK with Node's type stripping, which
  // accepts only erasable syntax (see examples/hello/Containerfile).
  readonly status: number;
  readonly detail: string;

  constructor(status: number, detail: string) {
    super(detail);
    this.status = status;
    this.detail = detail;
  }
}
