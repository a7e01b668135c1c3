import { randomBytes } from 'node:crypto';
import type { Bar } from '../domain/bar.ts';
import type { HistoryBounds, Position, Recovery } from './position.ts';

/** A new random epoch id (URL-safe, 16 characters). */
export function newEpoch(): string {
  return randomBytes(12).toString('base64url');
}

/**
 * Entries one series may keep when `series` series share the history: `updates`, but no more than
 * an equal share of `totalUpdates` (at least 1), so memory stays bounded however many series run.
 */
export function historyShare(bounds: HistoryBounds, series: number): number {
  const total = bounds.totalUpdates ?? Infinity;
  return Math.max(1, Math.min(bounds.updates, Math.floor(total / Math.max(1, series))));
}

/**
 * One series' position and its bounded recent history: a ring of the last `updates` published bars
 * with their offsets and the time they were appended. Entries older than `maxAgeMs` count as gone.
 * The offsets either come from here (`append`, the writer) or from the writer elsewhere (`record`,
 * an edge following the leader): both keep the history contiguous.
 */
export class SeriesLog {
  /** Kept entries from `head` on; the array grows with use (a quiet series costs nothing up front). */
  private entries: Array<{ bar: Bar; at: number }> = [];
  private head = 0;
  private current: number;
  /** Offsets up to this one are no longer kept (evicted, or before this log started). */
  private forgotten: number;

  constructor(
    readonly epoch: string,
    private readonly bounds: HistoryBounds,
    offset = 0,
  ) {
    if (!(bounds.updates >= 1) || !(bounds.maxAgeMs >= 1)) throw new TypeError('SeriesLog: bounds.updates and bounds.maxAgeMs must be >= 1');
    this.current = offset;
    this.forgotten = offset;
  }

  get offset(): number {
    return this.current;
  }

  get position(): Position {
    return { epoch: this.epoch, offset: this.current };
  }

  /** Entries kept now. */
  get size(): number {
    return this.entries.length - this.head;
  }

  /** Publishes one update: the next offset is its own. `cap` (at most `bounds.updates`) is this series' share now. */
  append(bar: Bar, now: number, cap = this.bounds.updates): Position {
    this.record(this.current + 1, bar, now, cap);
    return this.position;
  }

  /**
   * Keeps an update whose offset was given by the writer. It must be the next one; anything else
   * is a programming error of the caller (an edge repairs holes before it records).
   */
  record(offset: number, bar: Bar, now: number, cap = this.bounds.updates): void {
    if (offset !== this.current + 1) throw new RangeError(`SeriesLog.record: offset ${offset} after ${this.current}`);
    this.entries.push({ bar, at: now });
    this.current = offset;
    // Age is enforced on writes too: a series nobody resumes would otherwise keep `updates` entries forever.
    this.expire(now);
    const over = this.size - Math.max(1, Math.min(cap, this.bounds.updates));
    if (over > 0) this.drop(over);
  }

  private drop(n: number): void {
    this.head += n;
    this.forgotten += n;
    // Compact now and then: amortised O(1) per update, no ring arithmetic.
    if (this.head >= 64 && this.head * 2 >= this.entries.length) {
      this.entries = this.entries.slice(this.head);
      this.head = 0;
    }
  }

  /** Drops entries older than `maxAgeMs` (on writes and reads, so a quiet series needs no timer). */
  private expire(now: number): void {
    let n = 0;
    const limit = now - this.bounds.maxAgeMs;
    while (this.head + n < this.entries.length && this.entries[this.head + n]!.at < limit) n++;
    if (n) this.drop(n);
  }

  /** See SeriesPositions.recover. */
  recover(epoch: string, since: number, now: number): Recovery | undefined {
    const entries = this.entriesAfter(since, now);
    if (!entries || epoch !== this.epoch) return undefined;
    const latest = new Map<number, Bar>();
    for (const e of entries) latest.set(e.bar.openTime, e.bar);
    return { position: this.position, bars: [...latest.values()].sort((a, b) => a.openTime - b.openTime) };
  }

  /** Raw entries after `since` (not coalesced), oldest first; undefined when no longer kept. */
  entriesAfter(since: number, now: number): Array<{ offset: number; bar: Bar }> | undefined {
    this.expire(now);
    if (!Number.isSafeInteger(since) || since < this.forgotten || since > this.current) return undefined;
    const out: Array<{ offset: number; bar: Bar }> = [];
    for (let k = since - this.forgotten; k < this.size; k++) out.push({ offset: this.forgotten + k + 1, bar: this.entries[this.head + k]!.bar });
    return out;
  }
}
