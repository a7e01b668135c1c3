/** A derived series cannot be served now: a cap or a queue is full (HTTP 503 with Retry-After). */
export class SeriesBusyError extends Error {
  override readonly name = 'SeriesBusyError';
}

/** A derived series failed (its operator threw): the message is the operator's error. */
export class SeriesFailedError extends Error {
  override readonly name = 'SeriesFailedError';
}

/**
 * A range needs candles older than this node can read: a cluster edge has no exchange connection and
 * reads only the bars Redis keeps (BUFFER_SIZE per series). HTTP 422, code `range_not_kept`: asking
 * again does not help, a later `endTime` or a smaller `limit` may.
 */
export class RangeNotKeptError extends Error {
  override readonly name = 'RangeNotKeptError';
}
