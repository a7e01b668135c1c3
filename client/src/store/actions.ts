import type { StoreApi } from 'zustand/vanilla';
import { type Candle, seriesKey } from './candle.ts';
import type { Market, StreamPosition } from '../feed/wire.ts';
import { type MarketState, market } from './market.ts';
import { lowerBound } from '../lower-bound.ts';

/** Candles kept per key: enough for the chart's live window; older pages live in the chart only. */
export const MAX_CANDLES_PER_KEY = 5000;

/** Sorted, unique by time, last value wins (the `historical` message is trusted but normalised). */
function normalise(candles: readonly Candle[]): Candle[] {
  const byTime = new Map<number, Candle>();
  for (const c of candles) byTime.set(c.time, c);
  const out = [...byTime.values()].sort((a, b) => a.time - b.time);
  return out.length > MAX_CANDLES_PER_KEY ? out.slice(out.length - MAX_CANDLES_PER_KEY) : out;
}

/** `historical`: the series is replaced (after a reconnect too: no duplicate, no hole). */
export function setCandlesForSymbol(symbol: string, interval: string, candles: readonly Candle[], store: StoreApi<MarketState> = market): void {
  const key = seriesKey(symbol, interval);
  store.setState((s) => ({
    candlesByKey: { ...s.candlesByKey, [key]: normalise(candles) },
    generationByKey: { ...s.generationByKey, [key]: (s.generationByKey[key] ?? 0) + 1 },
  }));
}

/**
 * `recovered` after a resume: the latest version of every bar touched while the socket was away,
 * merged without replacing the series (the chart keeps its scrolled-back history, and puts a bar
 * older than its newest in place: data-loader.ts). Returns true when a bar older than the newest changed.
 */
export function mergeCandles(symbol: string, interval: string, candles: readonly Candle[], store: StoreApi<MarketState> = market): boolean {
  const key = seriesKey(symbol, interval);
  // One copy and one notification for the whole message: merged bar by bar, 600 bars (a 1s chart
  // back from 10 minutes away) made 600 copies of up to 5,000 candles and 600 store updates (a review).
  const next = (store.getState().candlesByKey[key] ?? []).slice();
  let changed = false;
  let olderChanged = false;
  for (const c of [...candles].sort((a, b) => a.time - b.time)) {
    const r = applyCandle(next, c);
    if (r === undefined) continue;
    changed = true;
    olderChanged ||= r;
  }
  if (changed) store.setState((s) => ({ candlesByKey: { ...s.candlesByKey, [key]: next }, lastUpdateAt: Date.now() }));
  return olderChanged;
}

/** The stream position of a series as a live update moves it: forward only (a late message never rewinds it; a snapshot sets it: resetPosition). */
export function setPosition(symbol: string, interval: string, position: StreamPosition, store: StoreApi<MarketState> = market): void {
  const key = seriesKey(symbol, interval);
  const cur = store.getState().positionByKey[key];
  if (cur && cur.epoch === position.epoch && cur.offset >= position.offset) return;
  store.setState((s) => ({ positionByKey: { ...s.positionByKey, [key]: position } }));
}

/**
 * The position of a snapshot (`historical`): set as it is, even behind the one held. Its candles replace
 * the series' whole; an edge behind the client (a resume it could not serve) answers with an older
 * position, and kept, the later one made the next resume skip the updates in between (a review).
 */
export function resetPosition(symbol: string, interval: string, position: StreamPosition, store: StoreApi<MarketState> = market): void {
  const key = seriesKey(symbol, interval);
  store.setState((s) => ({ positionByKey: { ...s.positionByKey, [key]: position } }));
}

/** Forget a series' position (its epoch is gone: the next connect asks for a fresh snapshot). */
export function clearPosition(symbol: string, interval: string, store: StoreApi<MarketState> = market): void {
  const key = seriesKey(symbol, interval);
  if (!(key in store.getState().positionByKey)) return;
  store.setState((s) => {
    const positionByKey = { ...s.positionByKey };
    delete positionByKey[key];
    return { positionByKey };
  });
}

/**
 * `live_candle` (and each bar of `recovered`): appended when newer than the last, replaces the candle
 * with the same time, and is inserted in order when it fills a hole inside the kept range (a gap the
 * engine repaired late). Older than everything kept: ignored (the chart's older pages come from the
 * engine). Returns true when a bar older than the newest changed or came (the chart puts it in place:
 * data-loader.ts; the generation stays, it moves only when a `historical` replaces the series).
 */
export function mergeCandle(symbol: string, interval: string, candle: Candle, store: StoreApi<MarketState> = market): boolean {
  const key = seriesKey(symbol, interval);
  const list = store.getState().candlesByKey[key] ?? [];
  const last = list[list.length - 1];
  let next: Candle[];
  let older = false;
  if (!last || candle.time > last.time) {
    // The live path: one copy, the oldest dropped at the cap.
    next = list.length >= MAX_CANDLES_PER_KEY ? [...list.slice(list.length - MAX_CANDLES_PER_KEY + 1), candle] : [...list, candle];
  } else {
    next = list.slice();
    const r = applyCandle(next, candle);
    if (r === undefined) return false;
    older = r;
  }
  store.setState((s) => ({ candlesByKey: { ...s.candlesByKey, [key]: next }, lastUpdateAt: Date.now() }));
  return older;
}

/**
 * Puts one candle into a sorted list, in place (see mergeCandle). Returns whether a bar older than
 * the newest changed or came; undefined when the list did not change.
 */
function applyCandle(list: Candle[], candle: Candle): boolean | undefined {
  const last = list[list.length - 1];
  if (!last || candle.time > last.time) {
    list.push(candle);
    if (list.length > MAX_CANDLES_PER_KEY) list.shift();
    return false;
  }
  // Older than everything kept: taking it would open a hole between it and the oldest kept (the
  // snapshot holds fewer bars than the engine), which scrolling back would never fill.
  if (candle.time < list[0]!.time) return undefined;
  const i = indexOfTime(list, candle.time);
  const older = candle.time < last.time && (i < 0 || !sameCandle(list[i]!, candle));
  // The same bar again: nothing changes (the chart finds changed bars by identity).
  if (i >= 0 && candle.time < last.time && !older) return undefined;
  if (i >= 0) list[i] = candle;
  else {
    // Newer than the oldest kept (above): at the cap that one makes room for it.
    list.splice(insertionPoint(list, candle.time), 0, candle);
    if (list.length > MAX_CANDLES_PER_KEY) list.shift();
  }
  return older;
}

const sameCandle = (a: Candle, b: Candle) =>
  a.open === b.open && a.high === b.high && a.low === b.low && a.close === b.close && a.volume === b.volume && a.is_closed === b.is_closed;

const candleTime = (c: Candle) => c.time;

/** The index where a candle of `time` (not in the list) goes to keep it sorted. */
const insertionPoint = (list: readonly Candle[], time: number) => lowerBound(list, time, candleTime);

function indexOfTime(list: readonly Candle[], time: number): number {
  const i = lowerBound(list, time, candleTime);
  return list[i]?.time === time ? i : -1;
}

export function setConnection(connection: MarketState['connection'], store: StoreApi<MarketState> = market): void {
  store.setState({ connection });
}

export function setUpstream(upstream: MarketState['upstream'], source: string | null, store: StoreApi<MarketState> = market): void {
  store.setState({ upstream, source });
}

/**
 * A new socket's engine has not said its upstream's state yet (it does right after the first
 * message). What the last socket heard is not carried over: the engine's state may have changed
 * while the socket was away, and the badge read it as `live` until the new `status` came.
 */
export function forgetUpstream(store: StoreApi<MarketState> = market): void {
  store.setState({ upstream: 'unknown' });
}

export function setError(error: string | null, store: StoreApi<MarketState> = market): void {
  store.setState({ error });
}

/**
 * Series (`SYMBOL:interval`) whose candles, position and derived points stay in the store once the
 * chart has moved on (a switch back shows them until its snapshot replaces them); older ones are
 * dropped, so a chart open all day while the trader browses hundreds of symbols keeps flat memory
 * (each series holds up to MAX_CANDLES_PER_KEY candles).
 */
export const MAX_SERIES_KEPT = 8;

/** The chart now shows this series: it becomes the most recent one kept; the least recent beyond MAX_SERIES_KEPT go. */
export function setSelection(symbol: string, interval: string, store: StoreApi<MarketState> = market): void {
  const key = seriesKey(symbol, interval);
  store.setState((s) => {
    const recent = [...s.recentKeys.filter((k) => k !== key), key].slice(-MAX_SERIES_KEPT);
    // Whatever is not among the recent series goes (one that fell off the list, or was never selected).
    const kept = new Set(recent);
    const keep = <T,>(r: Record<string, T>, ofKey: (k: string) => string = (k) => k) => Object.fromEntries(Object.entries(r).filter(([k]) => kept.has(ofKey(k))));
    // Derived series' entries are `label|SYMBOL:interval`.
    const seriesOf = (k: string) => k.slice(k.lastIndexOf('|') + 1);
    return {
      selection: { symbol, interval },
      error: null,
      recentKeys: recent,
      candlesByKey: keep(s.candlesByKey),
      generationByKey: keep(s.generationByKey),
      positionByKey: keep(s.positionByKey),
      seriesPoints: keep(s.seriesPoints, seriesOf),
      seriesPointsVersion: keep(s.seriesPointsVersion, seriesOf),
      seriesStatus: keep(s.seriesStatus, seriesOf),
    };
  });
}

export function setCatalog(
  catalog: { symbols: string[]; intervals: string[]; source: string | null; markets?: Market[]; configured?: string[] },
  store: StoreApi<MarketState> = market,
): void {
  const { symbols, intervals, source } = catalog;
  store.setState((s) => ({ symbols, intervals, markets: catalog.markets ?? [], configured: catalog.configured ?? symbols, source: s.source ?? source }));
}
