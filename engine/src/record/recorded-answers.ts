import type { RecordLine } from './recording-format.ts';

type RestLine = Extract<RecordLine, { k: 'rest' }>;
/** A Binance kline row: open time first. */
export type KlineRow = [number, ...unknown[]];

/**
 * The REST answers of a recording, kept by question: the same question gets the recorded answers
 * in order (the last one repeats), and a kline question never asked while recording is answered
 * from every kline row the recording holds for that symbol and interval.
 */
export class RecordedAnswers {
  private readonly answers = new Map<string, RestLine[]>();
  /**
   * Kline rows by series, keyed by seriesKey; the symbol and interval are kept as asked, apart: they come
   * from a recording's query strings, unchecked, so a key split back into them could be forged
   * (`symbol=BTCUSDT:1m&interval=x` read as BTCUSDT 1m).
   */
  private readonly index = new Map<string, { symbol: string; interval: string; rows: Map<number, KlineRow> }>();

  /** Keeps a recorded answer; false (the line counts as malformed) for a question no engine could have asked. */
  add(line: RestLine): boolean {
    let u: URL;
    try {
      u = new URL(line.q, 'http://x');
    } catch {
      return false; // '//' is not a path
    }
    const list = this.answers.get(line.q) ?? [];
    list.push(line);
    this.answers.set(line.q, list);
    const symbol = u.searchParams.get('symbol');
    const interval = u.searchParams.get('interval');
    if (line.s === 200 && u.pathname.endsWith('/klines') && symbol !== null && interval !== null) this.indexRows(symbol, interval, line.b);
    return true;
  }

  /** The next recorded answer to `q` (the path and query as asked), or undefined if it was never asked. */
  next(q: string): RestLine | undefined {
    const queue = this.answers.get(q);
    if (!queue?.length) return undefined;
    return queue.length > 1 ? queue.shift() : queue[0];
  }

  /** Recorded kline rows for a klines question (symbol, interval, startTime, endTime, limit), as Binance pages them. */
  klines(q: URLSearchParams): KlineRow[] {
    const symbol = q.get('symbol');
    const interval = q.get('interval');
    const indexed = symbol === null || interval === null ? undefined : this.index.get(seriesKey(symbol, interval));
    const rows = [...(indexed?.rows.values() ?? [])].sort((a, b) => a[0] - b[0]);
    const start = q.get('startTime') ? Number(q.get('startTime')) : undefined;
    const end = q.get('endTime') ? Number(q.get('endTime')) : undefined;
    const limit = Number(q.get('limit') ?? 500);
    const inRange = rows.filter((r) => (start === undefined || r[0] >= start) && (end === undefined || r[0] <= end));
    return start !== undefined ? inRange.slice(0, limit) : inRange.slice(-limit);
  }

  /** Each series the kline answers hold rows of (as asked: names unchecked) and the open time of its oldest row. */
  *oldestRows(): Generator<{ symbol: string; interval: string; openTime: number }> {
    for (const { symbol, interval, rows } of this.index.values()) {
      if (!rows.size) continue;
      let openTime = Infinity;
      for (const t of rows.keys()) if (t < openTime) openTime = t;
      yield { symbol, interval, openTime };
    }
  }

  private indexRows(symbol: string, interval: string, body: string): void {
    let rows: unknown;
    try {
      rows = JSON.parse(body);
    } catch {
      return; // a malformed recorded body stays answerable verbatim, it just isn't indexed
    }
    if (!Array.isArray(rows)) return;
    const key = seriesKey(symbol, interval);
    let series = this.index.get(key);
    if (!series) this.index.set(key, (series = { symbol, interval, rows: new Map() }));
    for (const row of rows) if (Array.isArray(row) && typeof row[0] === 'number') series.rows.set(row[0], row as KlineRow);
  }
}

/** One key per (symbol, interval) pair, whatever characters they hold (JSON quotes both). */
const seriesKey = (symbol: string, interval: string): string => JSON.stringify([symbol, interval]);
