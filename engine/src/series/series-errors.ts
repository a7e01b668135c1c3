/** A derived series cannot be served now: a cap or a queue is full (HTTP 503 with Retry-After). */
export class SeriesBusyError extends Error {
  override readonly name = 'SeriesBusyError';
}

/** A derived series failed (its operator threw): the message is the operator's error. */
export class SeriesFailedError extends Error {
  override readonly name = 'SeriesFailedError';
}
