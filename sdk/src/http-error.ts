/** Throw from an endpoint to answer with this status and `{detail}` instead of a 500. */
export class HttpError extends Error {
  override readonly name = 'HttpError';
  constructor(
    readonly status: number,
    readonly detail: string,
  ) {
    super(detail);
  }
}
