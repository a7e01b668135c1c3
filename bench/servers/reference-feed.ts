import WebSocket from 'ws';
import type { Bar } from '../../engine/src/domain/bar.ts';
import { type SeriesId, seriesId } from '../../engine/src/domain/series-id.ts';
import { klineStreamName, parseKlineRows, parseStreamFrame } from '../../engine/src/sources/binance-raw.ts';

export interface ReferenceFeedOptions {
  restUrl: string;
  wsUrl: string;
  symbols: string[];
  intervals: string[];
  /** Bars kept per series (the `historical` size). */
  historyOnConnect: number;
  /** Called after the series' window holds `bar`. */
  onBar(id: SeriesId, bar: Bar): void;
}

export interface ReferenceFeed {
  /** The newest bars of a series, oldest first (the live array: read, do not keep). */
  window(key: string): readonly Bar[] | undefined;
  series(): SeriesId[];
  updates: number;
  close(): void;
}

/**
 * The upstream half shared by both reference servers, kept minimal so they differ only in fan-out:
 * REST bootstrap of each series (one page), then one combined stream; each update replaces the
 * forming bar or appends a new one. No gap repair, no store: the references measure delivery only.
 */
export async function startReferenceFeed(opts: ReferenceFeedOptions): Promise<ReferenceFeed> {
  const ids = opts.symbols.flatMap((s) => opts.intervals.map((i) => seriesId(s, i)));
  const idByKey = new Map(ids.map((id) => [id.key, id]));
  const windows = new Map<string, Bar[]>();
  const queue = [...ids];
  const load = async () => {
    for (let id = queue.shift(); id; id = queue.shift()) {
      const url = `${opts.restUrl}/api/v3/klines?symbol=${id.symbol}&interval=${id.interval}&limit=${opts.historyOnConnect}`;
      const res = await fetch(url);
      if (!res.ok) throw new Error(`bootstrap ${id.key}: HTTP ${res.status}`);
      windows.set(id.key, parseKlineRows(await res.json(), Date.now()));
    }
  };
  await Promise.all(Array.from({ length: Math.min(8, ids.length) }, load));

  const feed: ReferenceFeed = {
    window: (key) => windows.get(key),
    series: () => ids,
    updates: 0,
    close: () => ws.terminate(),
  };
  const streams = ids.map((id) => klineStreamName(id.symbol, id.interval));
  const ws = new WebSocket(`${opts.wsUrl}/stream?streams=${streams.join('/')}`, { perMessageDeflate: false });
  ws.on('message', (data) => {
    const frame = parseStreamFrame(data.toString());
    if (frame.kind !== 'kline') return;
    const key = `${frame.symbol}:${frame.interval}`;
    const w = windows.get(key);
    const id = idByKey.get(key);
    if (!w || !id) return;
    const last = w[w.length - 1];
    if (last && last.openTime === frame.bar.openTime) w[w.length - 1] = frame.bar;
    else if (!last || frame.bar.openTime > last.openTime) {
      w.push(frame.bar);
      if (w.length > opts.historyOnConnect) w.shift();
    } else return;
    feed.updates++;
    opts.onBar(id, frame.bar);
  });
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('error', reject);
  });
  return feed;
}
