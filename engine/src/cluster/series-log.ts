import { randomBytes } from 'node:crypto';
import type { Bar } from '../domain/bar.ts';
import type { SeriesId } from '../domain/series-id.ts';
import type { HistoryBounds, Position, Recovery } from './position.ts';

/** A new random epoch id (URL-safe, 16 characters). */
export function newEpoch(): string {
  return randomBytes(12).toString('base64url');
}

/**
 * Entries one series may keep when `series` series share the history, `pinnedSeries` of them
 * configured: `updates`, but no more than an equal share of `totalUpdates` (at least 1), so memory
 * stays bounded however many series run. Configured series (`pinned`) share it first, the others
 * what they leave: on-demand series nobody watched (an attacker's 2,000) had cut a configured
 * series' resume from 1,000 updates to 124 (an attacker-style probe).
 */
export function historyShare(bounds: HistoryBounds, series: number, pinnedSeries = 0, pinned = false): number {
  const total = bounds.totalUpdates ?? Infinity;
  const pinnedShare = Math.max(1, Math.min(bounds.updates, Math.floor(total / Math.max(1, pinnedSeries))));
  if (pinned) return pinnedShare;
  const rest = total - pinnedShare * pinnedSeries;
  return Math.max(1, Math.min(bounds.updates, Math.floor(rest / Math.max(1, series - pinnedSeries))));
}

/** Which series' logs are configured ones (they share the history first), counted as logs come and go. */
export class PinnedLogs {
  private readonly keys = new Set<string>();

  constructor(private readonly pinned: (id: SeriesId) => boolean) {}

  added(id: SeriesId): void {
    if (this.pinned(id)) this.keys.add(id.key);
  }

  removed(id: SeriesId): void {
    this.keys.delete(id.key);
  }

  /** The share of `id`'s log among `series` logs. */
  share(bounds: HistoryBounds, series: number, id: SeriesId): number {
    return historyShare(bounds, series, this.keys.size, this.keys.has(id.key));
  }
}

/** Doubles per entry: open time, OHLCV, closed (0/1), and when it was appended. */
const STRIDE = 8;
/** Slots a log starts with on its first entry; it doubles from there up to its share. */
const FIRST_SLOTS = 4;

/**
 * One series' position and its bounded recent history: a ring of the last `updates` published bars
 * with their offsets and the time they were appended. Entries older than `maxAgeMs` count as gone.
 * The offsets either come from here (`append`, the writer) or from the writer elsewhere (`record`,
 * an edge following the leader): both keep the history contiguous.
 *
 * Entries are kept as numbers in one Float64Array (64 bytes an entry), not as objects: at universe
 * scale the logs hold ~250,000 entries in all, which as `{ bar, at }` objects cost ~240 bytes each and,
 * living a minute or so, were promoted and then died in the old generation (heap growth and slack).
 * Bars are built again only when a resume reads them.
 */
export class SeriesLog {
  /** The ring; grows (doubling, up to the share) with use, so a quiet series costs nothing up front. */
  private ring: Float64Array | undefined;
  /** Slot of the oldest kept entry, and how many are kept. */
  private head = 0;
  private count = 0;
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
    return this.count;
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
    const keep = Math.max(1, Math.min(cap, this.bounds.updates));
    // Age is enforced on writes too: a series nobody resumes would otherwise keep `updates` entries forever.
    this.expire(now);
    if (this.count >= keep) this.drop(this.count - keep + 1);
    const ring = this.room(keep);
    const slots = ring.length / STRIDE;
    const p = this.head + this.count;
    const o = (p >= slots ? p - slots : p) * STRIDE;
    ring[o] = bar.openTime;
    ring[o + 1] = bar.open;
    ring[o + 2] = bar.high;
    ring[o + 3] = bar.low;
    ring[o + 4] = bar.close;
    ring[o + 5] = bar.volume;
    ring[o + 6] = bar.closed ? 1 : 0;
    ring[o + 7] = now;
    this.count++;
    this.current = offset;
  }

  private drop(n: number): void {
    const slots = this.ring!.length / STRIDE;
    this.head = (this.head + n) % slots;
    this.count -= n;
    this.forgotten += n;
  }

  /**
   * The ring, with room for one more entry: grown (doubling, at most to `keep`) when full, and
   * shrunk to `keep` when that is less than half of it (a series whose share fell as others started).
   */
  private room(keep: number): Float64Array {
    const slots = this.ring ? this.ring.length / STRIDE : 0;
    if (this.count < slots && slots <= 2 * keep) return this.ring!;
    const next = new Float64Array(Math.max(this.count + 1, Math.min(keep, Math.max(FIRST_SLOTS, slots * 2))) * STRIDE);
    for (let i = 0; i < this.count; i++) {
      const p = this.head + i;
      const o = (p >= slots ? p - slots : p) * STRIDE;
      next.set(this.ring!.subarray(o, o + STRIDE), i * STRIDE);
    }
    this.ring = next;
    this.head = 0;
    return next;
  }

  /** Slot offset (in doubles) of the i-th kept entry, oldest first. */
  private at(i: number): number {
    const slots = this.ring!.length / STRIDE;
    const p = this.head + i;
    return (p >= slots ? p - slots : p) * STRIDE;
  }

  private barAt(i: number): Bar {
    const r = this.ring!;
    const o = this.at(i);
    return { openTime: r[o]!, open: r[o + 1]!, high: r[o + 2]!, low: r[o + 3]!, close: r[o + 4]!, volume: r[o + 5]!, closed: r[o + 6] === 1 };
  }

  /** Drops entries older than `maxAgeMs` (on writes and reads, so a quiet series needs no timer). */
  private expire(now: number): void {
    let n = 0;
    const limit = now - this.bounds.maxAgeMs;
    while (n < this.count && this.ring![this.at(n) + 7]! < limit) n++;
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
    for (let k = since - this.forgotten; k < this.count; k++) out.push({ offset: this.forgotten + k + 1, bar: this.barAt(k) });
    return out;
  }
}
