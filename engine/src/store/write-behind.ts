import type { Bar } from '../domain/bar.ts';
import { candlesKey, type SeriesId } from '../domain/series-id.ts';
import type { StoreMetrics } from './bar-store.ts';
import { encodeBar } from './bar-member.ts';
import type { HotWindows } from './hot-windows.ts';
import type { RedisLink } from './redis-link.ts';
import type { SeriesExpiries } from './series-expiries.ts';
import type { RedisWithUpsert, StorePipeline, StoreWriteScripts } from './store-write-scripts.ts';

/** Bar writes sent in one pipeline at most (a series' pending bars are never split). */
export const MAX_FLUSH_BARS = 20_000;

/**
 * The Redis bar store's pending writes: coalesced per series and open time (at most `bufferSize` per
 * series), flushed once per tick as one pipeline with the keeps and expiries owed (SeriesExpiries).
 * A failed batch is put back; while Redis is away or hung the writes wait.
 */
export class WriteBehind {
  private readonly dirty = new Map<string, { id: SeriesId; bars: Map<number, Bar> }>();
  private scheduled = false;
  /** The flush under way. */
  flushing: Promise<void> | undefined;

  constructor(
    private readonly redis: RedisWithUpsert,
    private readonly scripts: StoreWriteScripts,
    private readonly link: RedisLink,
    private readonly windows: HotWindows,
    private readonly expiries: SeriesExpiries,
    private readonly cfg: { bufferSize: number; keyPrefix: string; connectTimeoutMs: number; metrics?: StoreMetrics },
  ) {}

  pendingWrites(): number {
    let n = 0;
    for (const d of this.dirty.values()) n += d.bars.size;
    return n;
  }

  markDirty(id: SeriesId, bar: Bar): void {
    let d = this.dirty.get(id.key);
    if (!d) this.dirty.set(id.key, (d = { id, bars: new Map() }));
    d.bars.set(bar.openTime, bar);
    if (d.bars.size > this.cfg.bufferSize) {
      // Bounded while Redis is down: the oldest pending bars would be trimmed by the cap anyway.
      let oldest = Infinity;
      for (const t of d.bars.keys()) if (t < oldest) oldest = t;
      d.bars.delete(oldest);
    }
  }

  /** Queues `bar` again unless a newer value for the same bar is pending. */
  private requeue(id: SeriesId, bar: Bar): void {
    if (!this.dirty.get(id.key)?.bars.has(bar.openTime)) this.markDirty(id, bar);
  }

  /** Queues every hot window's bars (Redis may have come back empty: see RedisLink). */
  rewriteWindows(): void {
    for (const { id, window } of this.windows.values()) for (const b of window.last(this.cfg.bufferSize)) this.requeue(id, b);
  }

  /** Drops a series' pending writes. */
  drop(key: string): void {
    this.dirty.delete(key);
  }

  /** Drops every pending write (fenced out: nothing will be written again). */
  clear(): void {
    this.dirty.clear();
  }

  schedule(): void {
    if (this.scheduled || this.link.closed) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      void this.flushOnce();
    });
  }

  private async flushOnce(): Promise<void> {
    const { link, expiries, dirty } = this;
    if (link.hung) return link.probe();
    if (this.flushing || !link.ok() || (dirty.size === 0 && !expiries.pending())) return this.flushing;
    // One pipeline of at most ~MAX_FLUSH_BARS writes (whole series); the rest follow in the next
    // turns. Before: everything pending in one pipeline (a universe's bootstrap, 221k writes at 300
    // series), which an overloaded Redis timed out whole, and which was retried whole.
    const batch: Array<{ id: SeriesId; bars: Bar[] }> = [];
    let size = 0;
    for (const [key, d] of dirty) {
      if (size >= MAX_FLUSH_BARS) break;
      batch.push({ id: d.id, bars: [...d.bars.values()] });
      size += d.bars.size;
      dirty.delete(key);
    }
    this.flushing = (async () => {
      let count = 0;
      try {
        // Built inside the try: anything thrown here must requeue the batch, never reject unhandled.
        const pipeline = this.redis.pipeline() as unknown as StorePipeline;
        // Live series not kept for good yet first (a failed keep stays in the set): a free below
        // must not count one of them among the freed and drop its key.
        const persisting = expiries.queueKeeps(pipeline, MAX_FLUSH_BARS);
        for (const { id, bars } of batch) {
          const key = candlesKey(id, this.cfg.keyPrefix);
          for (const b of bars) {
            pipeline.upsertBar(...this.scripts.argsOf([key], [b.openTime, encodeBar(b), this.cfg.bufferSize]));
            count++;
          }
          // Released while these were pending: its expiry (see release) after the writes that may
          // have created the key.
          if (!this.windows.has(id.key)) expiries.queueFree(pipeline, id);
        }
        const expiring = expiries.queueExpiries(pipeline, MAX_FLUSH_BARS);
        const results = (await pipeline.exec()) ?? [];
        const failed = results.filter(([e]) => e).length;
        if (failed) {
          this.cfg.metrics?.writeErrors(failed);
          throw results.find(([e]) => e)![0]!;
        }
        this.cfg.metrics?.barsWritten(count);
        expiries.taken(persisting, expiring);
        link.answered();
      } catch (e) {
        // Nothing of it is written, and nothing will be.
        if (link.fencedOut(e)) return;
        link.failed(e);
        // Put the batch back unless a newer value for the same bar arrived meanwhile (the script is
        // idempotent per bar, so rewriting the ones that did land is harmless).
        for (const { id, bars } of batch) for (const b of bars) this.requeue(id, b);
      } finally {
        this.flushing = undefined;
      }
      if ((dirty.size || expiries.pending()) && link.ok()) this.schedule();
    })();
    return this.flushing;
  }

  /** Resolves when what is pending is written, or Redis is not usable (bounded: see below). */
  async flush(): Promise<void> {
    // Still making the first connection is not an outage: wait for it (bounded), or close() right
    // after start would drop the writes.
    if (!this.link.everReady && this.dirty.size && !this.link.closed) await this.link.waitReady(this.cfg.connectTimeoutMs);
    // Bounded: a producer that keeps writing must not keep a caller of flush waiting forever.
    for (let i = 0; i < 1000 && this.link.ok() && (this.dirty.size || this.flushing); i++) await (this.flushing ?? this.flushOnce());
  }
}
