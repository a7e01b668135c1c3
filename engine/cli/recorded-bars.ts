import type { Bar } from '../src/domain/bar.ts';
import { isNativeInterval } from '../src/domain/interval.ts';
import { sourceAmong } from '../src/pipeline/custom-intervals.ts';
import { readRecording } from '../src/record/read-recording.ts';
import { parseKlineRows, parseStreamFrame } from '../src/sources/binance-raw.ts';
import { BatchUsageError } from './batch-usage-error.ts';

export interface RecordedBars {
  /** The recorded native interval the run is built from. */
  source: string;
  /** Closed bars of (symbol, source), oldest first, one per open time. */
  bars: Bar[];
  /** Recorded lines that could not be read (counted and skipped, as the engine does). */
  skipped: number;
}

/**
 * Every closed bar a recording holds of `symbol` at the coarsest recorded native interval that builds
 * `target`: the rows of its REST kline answers and the finals of its stream frames. Where both hold a
 * bar the later one received wins, as the store would keep it. Forming rows and updates are not
 * history and are left out.
 */
export async function recordedBars(file: string, symbol: string, target: string): Promise<RecordedBars> {
  let read;
  try {
    read = await readRecording(file);
  } catch (e) {
    throw new BatchUsageError('recording', `cannot read '${file}': ${(e as Error).message}`, { cause: e, value: file });
  }
  const meta = read.lines.find((l) => l.k === 'meta');
  if (!meta || meta.k !== 'meta') throw new BatchUsageError('recording', `'${file}' is not a recording (no meta line)`, { value: file });
  const native = meta.intervals.filter(isNativeInterval);
  const interval = sourceAmong(target, native);
  if (!interval) throw new BatchUsageError('recording', `'${file}' holds ${native.join(', ')} bars; none of them builds ${target}`, { value: file });
  if (!meta.symbols.includes(symbol)) {
    throw new BatchUsageError('symbol', `'${file}' holds ${meta.symbols.join(', ')}, not ${symbol}`, { value: symbol });
  }
  const byOpen = new Map<number, Bar>();
  let skipped = read.malformed;
  for (const l of read.lines) {
    try {
      if (l.k === 'rest' && l.s === 200) {
        const q = new URL(l.q, 'http://recording').searchParams;
        if (q.get('symbol') !== symbol || q.get('interval') !== interval) continue;
        for (const b of parseKlineRows(JSON.parse(l.b), l.t)) if (b.closed) byOpen.set(b.openTime, b);
      } else if (l.k === 'ws') {
        const f = parseStreamFrame(l.d);
        if (f.kind === 'kline' && f.bar.closed && f.symbol === symbol && f.interval === interval) byOpen.set(f.bar.openTime, f.bar);
      }
    } catch {
      skipped++;
    }
  }
  return { source: interval, bars: [...byOpen.values()].sort((a, b) => a.openTime - b.openTime), skipped };
}
