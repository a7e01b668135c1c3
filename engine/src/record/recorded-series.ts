import { isNativeInterval } from '../domain/interval.ts';
import { isValidSymbol } from '../domain/series-id.ts';
import { parseStreamFrame } from '../sources/binance-raw.ts';
import { frameStreamName } from './frame-stream-name.ts';

/** A stream the recording holds kline frames of: its name as its frames spell it, and its series. */
export interface RecordedStream {
  readonly name: string;
  readonly symbol: string;
  readonly interval: string;
}

/**
 * The series a recording holds bars of, from its REST kline rows and its stream frames, each with the
 * open time of its oldest bar: what a replay can serve (the live run's on-demand symbols too, and every
 * symbol of a recording made with SYMBOLS=*). Gathered during a replay's first pass. Only names the
 * engine could have asked for itself are kept (Binance's symbol grammar, a native interval): they
 * become series, topics and Redis keys; a recording naming anything else cannot smuggle it in.
 */
export class RecordedSeries {
  /** Oldest open time by `SYMBOL:interval`. */
  private readonly oldest = new Map<string, number>();
  private readonly symbolSet = new Set<string>();
  private readonly streamsByName = new Map<string, RecordedStream>();

  /**
   * Notes a frame. Only the first kline frame of each named stream is parsed: a
   * stream's frames come in order, so it holds the stream's oldest bar, and the first pass stays a
   * count for the rest (a frame without an envelope is parsed each time; malformed ones are skipped).
   */
  addFrame(text: string): void {
    const name = frameStreamName(text);
    if (name !== undefined && this.streamsByName.has(name)) return;
    let frame;
    try {
      frame = parseStreamFrame(text);
    } catch {
      return; // counted as the engine counts it, when it plays
    }
    if (frame.kind !== 'kline' || !this.add(frame.symbol, frame.interval, frame.bar.openTime)) return;
    if (name !== undefined) this.streamsByName.set(name, { name, symbol: frame.symbol, interval: frame.interval });
  }

  /** Notes a bar of `symbol` at `interval` opening at `openTime`; false (nothing kept) for a name the engine could not have asked for. */
  add(symbol: string, interval: string, openTime: number): boolean {
    if (!isValidSymbol(symbol) || !isNativeInterval(interval) || !Number.isFinite(openTime)) return false;
    const key = `${symbol}:${interval}`;
    const was = this.oldest.get(key);
    if (was === undefined || openTime < was) this.oldest.set(key, openTime);
    this.symbolSet.add(symbol);
    return true;
  }

  /** Every symbol the recording holds a bar of, sorted. */
  symbols(): string[] {
    return [...this.symbolSet].sort();
  }

  /** Open time of the oldest bar the recording holds of the series; undefined when it holds none. */
  firstBar(symbol: string, interval: string): number | undefined {
    return this.oldest.get(`${symbol}:${interval}`);
  }

  /** The streams it holds kline frames of (in an envelope), each once. */
  streams(): RecordedStream[] {
    return [...this.streamsByName.values()];
  }
}
