import type { Bar } from '../domain/bar.ts';
import type { Update } from './bar-codec.ts';

/** A consistent moment of one series in Redis: its position, its newest bars and its kept history. */
export interface FollowerSnapshot<T = Bar> {
  /** '' while the series was never written. */
  readonly epoch: string;
  readonly offset: number;
  readonly bars: readonly T[];
  /** Kept updates up to `offset`, oldest first, with the time each was written (ms). */
  readonly history: ReadonlyArray<Update<T> & { at: number }>;
}

export type FollowerHistory<T = Bar> = { ok: true; updates: readonly Update<T>[] } | { ok: false };

/** What a follower asks of its driver (reads are asynchronous; answers come back through on*). */
export interface FollowerIo<T = Bar> {
  /** Read snapshot and position atomically; answer with `onSnapshot(ticket, …)`. */
  requestSnapshot(ticket: number): void;
  /** Read the updates after `since` in `epoch`; answer with `onHistory(ticket, …)`. */
  requestHistory(ticket: number, epoch: string, since: number): void;
  /** A new baseline (first load, another epoch, or a hole the history could not fill). */
  reset(snapshot: FollowerSnapshot<T>): void;
  /** The next update, in offset order, exactly once. */
  apply(offset: number, bar: T): void;
}

/** Most messages held while a read is in flight before the follower gives up on them and reloads. */
const MAX_BUFFERED = 10_000;

/** Epochs a follower remembers having left: messages of older ones cannot still be on their way. */
export const MAX_SEEN_EPOCHS = 16;

/**
 * An edge's merge of one series: it is subscribed to the series' channel *before* it reads the
 * snapshot, so every update is either in the snapshot (offset <= the snapshot's) or arrives after it
 * (offset >). Updates are applied strictly in offset order; a hole (pub/sub drops messages silently
 * on a reconnect) is repaired from the history before anything after it is applied; an unrepairable
 * hole or a new epoch reloads from a snapshot. Pure: all I/O goes through `FollowerIo`. `T` is what
 * the log carries: bars, or a derived series' points (the merge never looks inside).
 */
export class SeriesFollower<T = Bar> {
  private phase: 'loading' | 'live' | 'repairing' = 'loading';
  private epoch: string | undefined;
  private offset = 0;
  private ticket = 0;
  /** Messages that cannot be applied yet (read in flight, or after a hole), by offset, with when each came (`received`). */
  private readonly buffer = new Map<number, { epoch: string; bar: T; seq: number }>();
  /** Messages held so far; and how many had come when the snapshot being read was asked for. */
  private received = 0;
  private askedAt = 0;
  /**
   * Epochs it followed and left, the newest MAX_SEEN_EPOCHS (see isNewerEpochMessage): a late message
   * comes from the epoch just left, and the set gained one per Redis restart for good on a long-lived edge.
   */
  private readonly seenEpochs = new Set<string>();

  constructor(private readonly io: FollowerIo<T>) {}

  /** Call once subscribed: loads the snapshot. */
  start(): void {
    this.reload();
  }

  get position(): { epoch: string | undefined; offset: number; phase: string } {
    return { epoch: this.epoch, offset: this.offset, phase: this.phase };
  }

  /** A message from the series' channel. */
  onMessage(epoch: string, offset: number, bar: T): void {
    if (this.phase === 'live' && epoch === this.epoch) {
      if (offset <= this.offset) return;
      if (offset === this.offset + 1) {
        this.applyOne(offset, bar);
        return;
      }
    }
    // An epoch it left: published before the switch and handled after the new snapshot (they come on
    // two connections). Taken for a newer one, it reloaded the series and sent its clients a needless
    // `historical` (a review).
    if (epoch !== this.epoch && this.seenEpochs.has(epoch)) return;
    this.hold(epoch, offset, bar);
    if (this.phase === 'live') {
      if (epoch !== this.epoch) this.reload();
      else this.repair();
    }
  }

  /**
   * The subscription was re-established (messages may have been lost meanwhile, silently), or a
   * periodic check found the stored offset ahead of ours: catch up from the history.
   */
  onGap(): void {
    if (this.phase === 'live') this.repair();
  }

  /** Starts over from a snapshot, whatever the phase (what it applied could not be, in part). */
  resync(): void {
    this.buffer.clear();
    this.reload();
  }

  onSnapshot(ticket: number, snap: FollowerSnapshot<T>): void {
    if (ticket !== this.ticket || this.phase !== 'loading') return;
    this.epoch = snap.epoch;
    this.offset = snap.offset;
    // What came before the snapshot was asked for was published before it was read: it holds them.
    // Kept, one of an epoch the log had left was taken for a newer one's, and reloaded the series
    // at every answer until the new epoch reached its offset (a review: 1,000 reads in a row).
    for (const [o, m] of this.buffer) if (m.seq <= this.askedAt) this.buffer.delete(o);
    this.io.reset(snap);
    this.phase = 'live';
    this.drain();
  }

  onHistory(ticket: number, result: FollowerHistory<T>): void {
    if (ticket !== this.ticket || this.phase !== 'repairing') return;
    if (!result.ok) return this.reload();
    const from = this.offset;
    for (const u of result.updates) {
      if (u.offset <= this.offset) continue;
      // The history is contiguous by construction; anything else means it moved under us: start over.
      if (u.offset !== this.offset + 1) return this.reload();
      this.applyOne(u.offset, u.bar);
    }
    this.phase = 'live';
    // Nothing new while a later message of this epoch waits: the store may have gone back (a Redis
    // restarted from a file a second old keeps the epoch): asking again got the same answer, without
    // end (a review). Start over from a snapshot, dropping what it no longer has.
    if (this.offset === from && this.waitsPastHole()) return this.resync();
    this.drain();
  }

  /** A message of this epoch waits past a hole: the next one is not held (held, drain applies them). */
  private waitsPastHole(): boolean {
    if (this.buffer.get(this.offset + 1)?.epoch === this.epoch) return false;
    for (const [o, m] of this.buffer) if (m.epoch === this.epoch && o > this.offset + 1) return true;
    return false;
  }

  private applyOne(offset: number, bar: T): void {
    this.offset = offset;
    this.io.apply(offset, bar);
  }

  private hold(epoch: string, offset: number, bar: T): void {
    this.buffer.set(offset, { epoch, bar, seq: ++this.received });
    if (this.buffer.size > MAX_BUFFERED) {
      this.buffer.clear();
      this.reload();
    }
  }

  /** Applies what the buffer holds in order; a message of another epoch or past a hole starts a read. */
  private drain(): void {
    while (this.phase === 'live' && this.buffer.size) {
      let min = Infinity;
      for (const o of this.buffer.keys()) if (o < min) min = o;
      const m = this.buffer.get(min)!;
      if (m.epoch !== this.epoch) {
        // Older epoch: stale, drop it. Another one: the series started over, reload.
        this.buffer.delete(min);
        if (this.isNewerEpochMessage(m.epoch)) {
          this.buffer.set(min, m);
          return this.reload();
        }
        continue;
      }
      if (min <= this.offset) {
        this.buffer.delete(min);
        continue;
      }
      if (min === this.offset + 1) {
        this.buffer.delete(min);
        this.applyOne(min, m.bar);
        continue;
      }
      return this.repair();
    }
  }

  /** Epochs are ids, not ordered: a message of an epoch we never saw can only come from a newer one. */
  private isNewerEpochMessage(epoch: string): boolean {
    return !this.seenEpochs.has(epoch);
  }

  /** How many epochs it remembers having left (at most MAX_SEEN_EPOCHS). */
  get epochsLeft(): number {
    return this.seenEpochs.size;
  }

  private reload(): void {
    if (this.epoch !== undefined) this.seenEpochs.add(this.epoch);
    // The oldest first out: a Set iterates in insertion order.
    if (this.seenEpochs.size > MAX_SEEN_EPOCHS) this.seenEpochs.delete(this.seenEpochs.values().next().value as string);
    this.askedAt = this.received;
    this.phase = 'loading';
    this.io.requestSnapshot(++this.ticket);
  }

  private repair(): void {
    this.phase = 'repairing';
    this.io.requestHistory(++this.ticket, this.epoch!, this.offset);
  }
}
