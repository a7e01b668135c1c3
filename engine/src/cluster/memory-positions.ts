import type { Bar } from '../domain/bar.ts';
import type { SeriesId } from '../domain/series-id.ts';
import type { HistoryBounds, Position, Recovery, SeriesPositions } from './position.ts';
import { newEpoch, PinnedLogs, SeriesLog } from './series-log.ts';

/**
 * Positions kept in this process (ROLE=all): every series gets a fresh epoch when first used, so a
 * restarted process never claims to continue a sequence it did not keep. The sink calls `append`
 * for every update it publishes, right before publishing it.
 */
export class MemoryPositions implements SeriesPositions {
  private readonly logs = new Map<string, SeriesLog>();
  private readonly pinned: PinnedLogs;

  /** `pinned`: the configured series (they share the history first). */
  constructor(
    private readonly bounds: HistoryBounds,
    private readonly now: () => number = Date.now,
    pinned: (id: SeriesId) => boolean = () => false,
  ) {
    this.pinned = new PinnedLogs(pinned);
  }

  private log(id: SeriesId): SeriesLog {
    let l = this.logs.get(id.key);
    if (!l) {
      this.logs.set(id.key, (l = new SeriesLog(newEpoch(), this.bounds)));
      this.pinned.added(id);
    }
    return l;
  }

  append(id: SeriesId, bar: Bar): Position {
    const log = this.log(id);
    return log.append(bar, this.now(), this.pinned.share(this.bounds, this.logs.size, id));
  }

  /** Entries kept over all series (O(series): for tests and gauges, not the hot path). */
  get entries(): number {
    let n = 0;
    for (const l of this.logs.values()) n += l.size;
    return n;
  }

  position(id: SeriesId): Position {
    return this.log(id).position;
  }

  /** A series no longer served: its log goes (a later one starts a new epoch, as its history restarts). */
  forget(id: SeriesId): void {
    this.logs.delete(id.key);
    this.pinned.removed(id);
  }

  recover(id: SeriesId, epoch: string, since: number): Recovery | undefined {
    return this.log(id).recover(epoch, since, this.now());
  }
}
