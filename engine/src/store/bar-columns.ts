import type { Bar } from '../domain/bar.ts';
import { allocateChunk } from './column-slabs.ts';

/**
 * Bytes one bar takes in the columns: five float64 (OHLCV), the open time in whole seconds (uint32,
 * Binance's open times are whole seconds, up to the year 2106) and one byte (closed).
 */
export const BYTES_PER_BAR = 5 * 8 + 4 + 1;
/** Bytes a bar takes in wide columns: the open time as a float64 (any millisecond). */
export const BYTES_PER_BAR_WIDE = 6 * 8 + 1;

/** Whether an open time fits the compact column: whole seconds from 1970 to 2106. */
export function fitsCompact(openTime: number): boolean {
  return openTime % 1000 === 0 && openTime >= 0 && openTime < 2 ** 32 * 1000;
}

/**
 * Fixed-size column storage for bars: one chunk of a shared slab (`column-slabs`), a float64 view
 * per price and volume, the open time as uint32 seconds (or float64 milliseconds when `wide`) and a
 * byte per closed flag. No object per bar, so a stored bar costs `BYTES_PER_BAR` and nothing for
 * the garbage collector to trace.
 * Slots are physical indexes; the ring and the ordering live in `SeriesWindow`.
 */
export class BarColumns {
  readonly open: Float64Array;
  readonly high: Float64Array;
  readonly low: Float64Array;
  readonly close: Float64Array;
  readonly volume: Float64Array;
  /** Open times: seconds (compact) or milliseconds (wide); `time(i)` reads milliseconds. */
  private readonly times: Uint32Array | Float64Array;
  private readonly scale: number;
  readonly closed: Uint8Array;

  constructor(
    readonly slots: number,
    /** Open times kept as float64 milliseconds: for bars not on whole seconds (never Binance's). */
    readonly wide = false,
  ) {
    // Float columns first: each view's offset stays a multiple of 8 (then 4), as the views require.
    const { buffer: buf, offset } = allocateChunk(slots * (wide ? BYTES_PER_BAR_WIDE : BYTES_PER_BAR), this);
    const col = (k: number) => new Float64Array(buf, offset + k * slots * 8, slots);
    this.open = col(0);
    this.high = col(1);
    this.low = col(2);
    this.close = col(3);
    this.volume = col(4);
    this.times = wide ? col(5) : new Uint32Array(buf, offset + 5 * slots * 8, slots);
    this.scale = wide ? 1 : 1000;
    this.closed = new Uint8Array(buf, offset + 5 * slots * 8 + slots * (wide ? 8 : 4), slots);
  }

  get bytes(): number {
    return this.slots * (this.wide ? BYTES_PER_BAR_WIDE : BYTES_PER_BAR);
  }

  /** Open time (ms) of slot `i`. */
  time(i: number): number {
    return this.times[i]! * this.scale;
  }

  /** Writes `b` to slot `i`; compact columns take only open times that `fitsCompact`. */
  write(i: number, b: Bar): void {
    this.times[i] = b.openTime / this.scale;
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
      openTime: this.time(i),
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
      this.time(i) === b.openTime &&
      this.open[i] === b.open &&
      this.high[i] === b.high &&
      this.low[i] === b.low &&
      this.close[i] === b.close &&
      this.volume[i] === b.volume &&
      this.closed[i] === (b.closed ? 1 : 0)
    );
  }

  /** Copies slot `from` of `src` (compact or wide) into slot `to` of this. */
  copy(to: number, src: BarColumns, from: number): void {
    this.times[to] = src.time(from) / this.scale;
    this.open[to] = src.open[from]!;
    this.high[to] = src.high[from]!;
    this.low[to] = src.low[from]!;
    this.close[to] = src.close[from]!;
    this.volume[to] = src.volume[from]!;
    this.closed[to] = src.closed[from]!;
  }
}
