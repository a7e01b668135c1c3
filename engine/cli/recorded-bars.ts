import { createReadStream } from 'node:fs';
import type { Bar } from '../src/domain/bar.ts';
import { isNativeInterval } from '../src/domain/interval.ts';
import { isValidSymbol } from '../src/domain/series-id.ts';
import { sourceAmong } from '../src/pipeline/custom-intervals.ts';
import { checkRecordingFile } from '../src/record/check-recording-file.ts';
import { formatVersionProblem } from '../src/record/format-version-problem.ts';
import type { RecordLine } from '../src/record/recording-format.ts';
import { scanRecording } from '../src/record/scan-recording.ts';
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

type Meta = Extract<RecordLine, { k: 'meta' }>;

/** Other symbols a refusal may name, at most (a recording's are the exchange's; a hostile one's are not). */
const MAX_NAMED = 5000;

/**
 * Every closed bar a recording holds of `symbol` at the coarsest recorded native interval that builds
 * `target`: the rows of its REST kline answers and the finals of its stream frames. Where both hold a
 * bar the later one received wins, as the store would keep it. Forming rows and updates are not
 * history and are left out.
 *
 * The symbol may be any the recording holds bars of, as a replay serves them: one its meta line lists,
 * any with SYMBOLS=* (`*`), or one the live run opened on demand; one it holds no closed bar of (at the
 * interval that builds `target`) is refused, naming `--symbol` and what it holds, whatever the meta line
 * lists. A recording of another format version is refused, as SOURCE=replay refuses it.
 *
 * The recording is read once, as a stream: what is kept is the symbol's closed bars (per native
 * interval until the meta line says which one builds `target`), never the recording's lines, so a
 * recording of days of the whole exchange costs the memory of the bars asked for.
 */
export async function recordedBars(file: string, symbol: string, target: string): Promise<RecordedBars> {
  const unreadable = (e: unknown) => new BatchUsageError('recording', `cannot read '${file}': ${(e as Error).message}`, { cause: e, value: file });
  try {
    await checkRecordingFile(file);
  } catch (e) {
    throw unreadable(e);
  }
  let meta: Meta | undefined;
  /** Where the meta line was read, the one interval kept; before it (a recording not written by `npm run record`), every native one. */
  let only: string | undefined;
  const byInterval = new Map<string, Map<number, Bar>>();
  /** Other symbols it holds klines of (named in a refusal), at most MAX_NAMED. */
  const held = new Set<string>();
  const noteSymbol = (other: string | null, interval: string | null) => {
    if (other !== null && interval !== null && held.size < MAX_NAMED && isValidSymbol(other) && isNativeInterval(interval)) held.add(other);
  };
  /** The native intervals it holds klines of the symbol at, any (named in a refusal). */
  const own = new Set<string>();
  const wanted = (interval: string) => (only === undefined ? isNativeInterval(interval) : interval === only);
  const keep = (interval: string, bar: Bar) => {
    if (!bar.closed) return;
    let m = byInterval.get(interval);
    if (!m) byInterval.set(interval, (m = new Map()));
    m.set(bar.openTime, bar);
  };
  let skipped = 0;
  // A meta line that rules the run out is remembered and thrown once the read is over (a throw from
  // inside the scan would read as an unreadable file); the rest of the read keeps nothing.
  let refused: BatchUsageError | undefined;
  const onLine = (l: RecordLine) => {
    if (refused) return;
    try {
      if (l.k === 'meta') {
        if (meta) return;
        meta = l;
        refused = refusal(file, meta, target);
        if (refused) return byInterval.clear();
        only = sourceAmong(target, meta.intervals.filter(isNativeInterval));
        for (const i of [...byInterval.keys()]) if (i !== only) byInterval.delete(i);
      } else if (l.k === 'rest' && l.s === 200) {
        const q = new URL(l.q, 'http://recording').searchParams;
        const interval = q.get('interval');
        if (q.get('symbol') !== symbol) return void noteSymbol(q.get('symbol'), interval);
        if (interval !== null && isNativeInterval(interval)) own.add(interval);
        if (interval === null || !wanted(interval)) return;
        for (const b of parseKlineRows(JSON.parse(l.b), l.t)) keep(interval, b);
      } else if (l.k === 'ws') {
        const f = parseStreamFrame(l.d);
        if (f.kind === 'kline' && f.symbol !== symbol) noteSymbol(f.symbol, f.interval);
        else if (f.kind === 'kline') {
          own.add(f.interval);
          if (wanted(f.interval)) keep(f.interval, f.bar);
        }
      }
    } catch {
      skipped++;
    }
  };
  let malformed;
  const stream = createReadStream(file);
  try {
    ({ malformed } = await scanRecording(file, stream, (l) => {
      onLine(l);
      // Ruled out by its meta line: the rest is not read.
      if (refused) stream.destroy();
    }));
  } catch (e) {
    if (refused) throw refused;
    throw unreadable(e);
  }
  if (refused) throw refused;
  if (!meta) throw new BatchUsageError('recording', `'${file}' is not a recording (no meta line)`, { value: file });
  const bars = [...(byInterval.get(only!)?.values() ?? [])].sort((a, b) => a.openTime - b.openTime);
  // No bar of it to compute on: refused, whatever the meta line lists (`*`, or a symbol the live run
  // never got a bar of), rather than written as an empty series.
  if (!bars.length) throw new BatchUsageError('symbol', `'${file}' holds no closed ${only!} bar of ${symbol} (the interval that builds ${target}); ${holding(symbol, own, held)}`, { value: symbol });
  return { source: only!, bars, skipped: skipped + malformed };
}

/** What a recording holds instead, for a refusal: the symbol's other intervals, else the symbols it holds bars of. */
function holding(symbol: string, own: ReadonlySet<string>, held: ReadonlySet<string>): string {
  if (own.size) return `it holds ${[...own].sort().join(', ')} klines of ${symbol}, none closed at that interval`;
  if (!held.size) return 'it holds no bar of any symbol';
  const listed = [...held].sort();
  return `it holds bars of ${listed.slice(0, 20).join(', ')}${listed.length > 20 ? ` and ${listed.length - 20} more` : ''}`;
}

/**
 * Why a recording with this meta line cannot build `target`, if it cannot: another format version, or
 * no recorded interval builds it. (A symbol it does not list may still be held: one the live run opened
 * on demand; that is known at the end of the read.)
 */
function refusal(file: string, meta: Meta, target: string): BatchUsageError | undefined {
  const version = formatVersionProblem(meta);
  if (version) return new BatchUsageError('recording', `'${file}' cannot be read: ${version}`, { value: file });
  const native = meta.intervals.filter(isNativeInterval);
  if (!sourceAmong(target, native)) return new BatchUsageError('recording', `'${file}' holds ${native.join(', ')} bars; none of them builds ${target}`, { value: file });
  return undefined;
}
