/** Frames a replay reads ahead of the one it plays: enough to play at maximum speed without waiting on gunzip. */
export const READ_AHEAD = 4096;

export interface FrameSourceConfig {
  /** Most items held at once; reading pauses at this many and resumes once half are taken. */
  readAhead?: number;
}

/**
 * A bounded read-ahead over an async sequence (a recording's frames, decompressed as they are
 * pulled): items are read until `readAhead` are held, then reading pauses, and the gunzip stream
 * behind it with it, until the player has taken half of them. The player takes items synchronously
 * (`peek`, `shift`) and waits on `ready()` only when it has outrun the reading. A read error ends
 * the items there (`error` says why).
 * @param source the items, in order; read once, from the constructor on
 * @param config.readAhead most items held (default READ_AHEAD)
 * @throws TypeError when `readAhead` is not a positive integer
 */
export class FrameSource<T> {
  private readonly ring: Array<T | undefined>;
  private start = 0;
  private count = 0;
  /** The reader, paused on a full buffer. */
  private room?: () => void;
  /** The player, waiting for an item. */
  private arrived?: () => void;
  private closed = false;
  /** Most items held at once so far. */
  peak = 0;
  /** No item will come any more: all were read, reading failed (`error`), or the source was closed. */
  ended = false;
  error?: Error;

  constructor(source: AsyncIterable<T>, { readAhead = READ_AHEAD }: FrameSourceConfig = {}) {
    if (!(Number.isInteger(readAhead) && readAhead >= 1)) throw new TypeError(`readAhead: expected a positive integer, got ${readAhead}`);
    this.ring = new Array<T | undefined>(readAhead);
    void this.read(source);
  }

  /** Items read and not yet taken. */
  get buffered(): number {
    return this.count;
  }

  /** The next item, left in place; undefined when none is read yet (or none is left). */
  peek(): T | undefined {
    return this.count ? this.ring[this.start] : undefined;
  }

  /** Takes the next item; undefined when none is read yet (or none is left). */
  shift(): T | undefined {
    if (!this.count) return undefined;
    const item = this.ring[this.start];
    this.ring[this.start] = undefined; // let the item go as soon as it is played
    this.start = (this.start + 1) % this.ring.length;
    this.count--;
    // Resume at half, not at every item taken: the reader then runs in bursts of many frames.
    if (this.room && this.count <= this.ring.length / 2) this.wake('room');
    return item;
  }

  /** Resolves once an item is buffered or the source has ended. */
  ready(): Promise<void> {
    if (this.count || this.ended) return Promise.resolve();
    return new Promise((resolve) => {
      const before = this.arrived;
      this.arrived = () => {
        before?.();
        resolve();
      };
    });
  }

  /** Stops reading (the source's iterator is returned, which closes what it reads) and drops what is held. */
  close(): void {
    this.closed = true;
    this.ring.fill(undefined);
    this.count = 0;
    this.wake('room');
  }

  private async read(source: AsyncIterable<T>): Promise<void> {
    try {
      for await (const item of source) {
        if (this.closed) break;
        this.ring[(this.start + this.count) % this.ring.length] = item;
        this.count++;
        if (this.count > this.peak) this.peak = this.count;
        this.wake('arrived');
        if (this.count === this.ring.length) await new Promise<void>((resolve) => (this.room = resolve));
        if (this.closed) break;
      }
    } catch (e) {
      if (!this.closed) this.error = e as Error;
    } finally {
      this.ended = true;
      this.wake('arrived');
    }
  }

  private wake(who: 'room' | 'arrived'): void {
    const resolve = this[who];
    this[who] = undefined;
    resolve?.();
  }
}
