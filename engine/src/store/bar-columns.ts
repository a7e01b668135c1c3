import type { Bar } from '../domain/bar.ts';

/** Bytes one bar takes in the columns: six float64 (open time, OHLCV) and one byte (closed). */
export const BYTES_PER_BAR = 6 * 8 + 1;

/**
 * Fixed-size column storage for bars: one ArrayBuffer, a float64 view per field and a byte per
 * closed flag. No object per bar, so a stored bar costs `BYTES_PER_BAR` and nothing for the garbage
 * collector to trace. Slots are physical indexes; the ring and the ordering live in `SeriesWindow`.
 */
export class BarColumns {
  readonly openTime: Float64Array;
  readonly open: Float64Array;
  readonly high: Float64Array;
  readonly low: Float64Array;
  readonly close: Float64Array;
  readonly volume: Float64Array;
  readonly closed: Uint8Array;

  constructor(readonly slots: number) {
    // Float columns first: each view's offset stays a multiple of 8, as Float64Array requires.
    const buf = new ArrayBuffer(slots * BYTES_PER_BAR);
    const col = (k: number) => new Float64Array(buf, k * slots * 8, slots);
    this.openTime = col(0);
    this.open = col(1);
    this.high = col(2);
    this.low = col(3);
    this.close = col(4);
    this.volume = col(5);
    this.closed = new Uint8Array(buf, 6 * slots * 8, slots);
  }

  get bytes(): number {
    return this.slots * BYTES_PER_BAR;
  }

  write(i: number, b: Bar): void {
    this.openTime[i] = b.openTime;
    this.open[i] = b.open;
    this.high[i] = b.high;
    this.low[i] = b.low;
    this.close[i] = b.close;
    this.volume[i] = b.volume;
    this.closed[i] = b.closed ? 1 : 0;
  }

  /** A fresh Bar for slot `i` (always the same property order, so every one shares a hidden class). */
  read(i: number): Bar {
    return {
      openTime: this.openTime[i]!,
      open: this.open[i]!,
      high: this.high[i]!,
      low: this.low[i]!,
      close: this.close[i]!,
      volume: this.volume[i]!,
      closed: this.closed[i] === 1,
    };
  }

  /** Whether slot `i` holds exactly `b` (the duplicate check of an upsert, without building a Bar). */
  holds(i: number, b: Bar): boolean {
    return (
      this.openTime[i] === b.openTime &&
      this.open[i] === b.open &&
      this.high[i] === b.high &&
      this.low[i] === b.low &&
      this.close[i] === b.close &&
      this.volume[i] === b.volume &&
      this.closed[i] === (b.closed ? 1 : 0)
    );
  }

  /** Copies slot `from` of `src` into slot `to` of this. */
  copy(to: number, src: BarColumns, from: number): void {
    this.openTime[to] = src.openTime[from]!;
    this.open[to] = src.open[from]!;
    this.high[to] = src.high[from]!;
    this.low[to] = src.low[from]!;
    this.close[to] = src.close[from]!;
    this.volume[to] = src.volume[from]!;
    this.closed[to] = src.closed[from]!;
  }
}
