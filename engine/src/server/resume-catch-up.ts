import type { SeriesPositions } from '../cluster/position.ts';
import type { ResumeRequest } from '../cluster/resume-request.ts';
import type { SeriesId } from '../domain/series-id.ts';
import { CatchUpWaits } from './catch-up-waits.ts';

/** Longest a resuming client waits for this node to apply updates it already saw (see `behind`). */
export const RESUME_CATCHUP_MS = 2000;
const RESUME_CATCHUP_POLL_MS = 10;

/**
 * A client that moved here from an edge whose feed was ahead of this one's (its edge died) may
 * have seen updates not applied here yet: it waits for them (at most RESUME_CATCHUP_MS), then
 * resumes with what it missed, rather than take a fresh snapshot.
 */
export class ResumeCatchUp {
  /** Resumes waiting for this node's feed to catch up with where their client was (one timer for all). */
  private readonly catchUps = new CatchUpWaits(RESUME_CATCHUP_POLL_MS);

  /** `positions`: absent, no resume waits. */
  constructor(private readonly positions: SeriesPositions | undefined) {}

  /** Runs `go` once this node has what a client resuming `id` at `resume` saw (at once when it asks for no resume, or is not ahead); not once `closed()`. */
  when(id: SeriesId, resume: ResumeRequest | undefined, closed: () => boolean, go: () => void): void {
    const r = resume;
    const positions = this.positions;
    if (!r || !positions?.behind?.(id, r.epoch, r.since)) return go();
    // A socket closed meanwhile ends its wait at the next poll.
    this.catchUps.wait(() => closed() || !positions.behind!(id, r.epoch, r.since), RESUME_CATCHUP_MS, () => {
      if (!closed()) go();
    });
  }

  /** Ends every wait (at shutdown). */
  clear(): void {
    this.catchUps.clear();
  }
}
