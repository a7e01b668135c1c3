import type { Bar } from '../domain/bar.ts';
import type { SeriesId } from '../domain/series-id.ts';
import type { HistoryBounds, Position, Recovery, SeriesPositions } from './position.ts';
import type { FollowerSnapshot } from './series-follower.ts';
import { PinnedLogs, SeriesLog } from './series-log.ts';

/** The epoch an edge shows for a series never written yet (a resume against it always misses). */
export const UNWRITTEN_EPOCH = 'unwritten';

/**
 * Positions on an edge: the leader's epochs and offsets, as the edge's merge applies them, with the
 * same bounded history (pre-filled from Redis at each load, so a client moving here from another
 * edge resumes as well as it would have there).
 */
export class EdgePositions implements SeriesPositions {
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

  /** A new baseline for a series: its snapshot's position and the kept history that leads up to it. */
  reset(id: SeriesId, snap: FollowerSnapshot): void {
    const h = snap.history;
    const contiguous = h.length > 0 && h[h.length - 1]!.offset === snap.offset && h.every((u, i) => i === 0 || u.offset === h[i - 1]!.offset + 1);
    const kept = contiguous ? h.slice(-this.bounds.updates) : [];
    const log = new SeriesLog(snap.epoch || UNWRITTEN_EPOCH, this.bounds, kept.length ? kept[0]!.offset - 1 : snap.offset);
    for (const u of kept) log.record(u.offset, u.bar, u.at);
    this.logs.set(id.key, log);
    this.pinned.added(id);
  }

  record(id: SeriesId, offset: number, bar: Bar): Position {
    const log = this.logs.get(id.key);
    if (!log) throw new Error(`EdgePositions.record: ${id.key} was never reset`);
    log.record(offset, bar, this.now(), this.pinned.share(this.bounds, this.logs.size, id));
    return log.position;
  }

  release(id: SeriesId): void {
    this.logs.delete(id.key);
    this.pinned.removed(id);
  }

  position(id: SeriesId): Position {
    return this.logs.get(id.key)?.position ?? { epoch: UNWRITTEN_EPOCH, offset: 0 };
  }

  recover(id: SeriesId, epoch: string, since: number): Recovery | undefined {
    return this.logs.get(id.key)?.recover(epoch, since, this.now());
  }

  behind(id: SeriesId, epoch: string, since: number): boolean {
    const p = this.logs.get(id.key)?.position;
    return p !== undefined && p.epoch === epoch && since > p.offset && since - p.offset <= this.bounds.updates;
  }
}
