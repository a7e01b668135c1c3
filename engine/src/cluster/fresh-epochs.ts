import { newEpoch } from './series-log.ts';

/** The epochs a writer offers logs Redis has no position of, one per call. */
export class FreshEpochs {
  /**
   * The epoch a batch offers a series Redis has no position of: this writer's random id and a count
   * (unique without drawing random bytes per batch, which cost more than the rest of a batch's work).
   */
  private readonly epochBase = newEpoch();
  private batches = 0;

  /** An epoch to offer a log Redis has no position of (see epochBase). */
  next(): string {
    return `${this.epochBase}${(++this.batches).toString(36)}`;
  }
}
