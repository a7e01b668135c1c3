/** First wait before failed writes go again (ms). */
export const RETRY_FIRST_MS = 250;
/** Longest wait between rounds while writes keep failing (ms). */
export const RETRY_MAX_MS = 5000;

/**
 * The wait before failed writes to Redis go again: RETRY_FIRST_MS, doubling with each round while
 * they keep failing, up to RETRY_MAX_MS. A failing spell ends when nothing has failed for twice the
 * longest wait, not at the first success: a Redis out of memory takes some writes and refuses others,
 * and the ones it takes must not bring the retries of all the rest back to every 250 ms (found: a
 * leader and its Redis at a third of a core each, retrying refused writes for as long as it lasted).
 */
export class RetryBackoff {
  private rounds = 0;
  private lastFailedAt = -Infinity;

  constructor(private readonly now: () => number = () => performance.now()) {}

  /** A write failed. */
  failed(): void {
    const t = this.now();
    if (t - this.lastFailedAt > 2 * RETRY_MAX_MS) this.rounds = 0;
    this.lastFailedAt = t;
  }

  /** The wait before the next round (each call is a round). */
  next(): number {
    return Math.min(RETRY_FIRST_MS * 2 ** this.rounds++, RETRY_MAX_MS);
  }
}
