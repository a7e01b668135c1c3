import type { StoreApi } from 'zustand/vanilla';
import { type Candle, seriesKey } from './candle.ts';
import type { Market, StreamPosition } from '../feed/wire.ts';
import { type MarketState, market } from './market.ts';

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
 * merged without replacing the series (the chart keeps its scrolled-back history). Returns true when
 * a bar older than the newest one changed: a chart can only update its last bar, so the caller
 * reloads it from the store then.
 */
export function mergeCandles(symbol: string, interval: string, candles: readonly Candle[], store: StoreApi<MarketState> = market): boolean {
  const key = seriesKey(symbol, interval);
  const newestBefore = store.getState().candlesByKey[key]?.at(-1)?.time ?? -Infinity;
  let olderChanged = false;
  for (const c of [...candles].sort((a, b) => a.time - b.time)) {
    if (c.time < newestBefore) {
      const list = store.getState().candlesByKey[key] ?? [];
      const i = indexOfTime(list, c.time);
      const old = i >= 0 ? list[i]! : undefined;
      if (!old || old.open !== c.open || old.high !== c.high || old.low !== c.low || old.close !== c.close || old.volume !== c.volume || old.is_closed !== c.is_closed) olderChanged = true;
      if (!old) {
        // A bar the store never had (inside the window): insert it in order.
        const next = [...list, c].sort((a, b) => a.time - b.time);
        store.setState((s) => ({ candlesByKey: { ...s.candlesByKey, [key]: next } }));
        continue;
      }
    }
    mergeCandle(symbol, interval, c, store);
  }
  if (olderChanged) store.setState((s) => ({ generationByKey: { ...s.generationByKey, [key]: (s.generationByKey[key] ?? 0) + 1 } }));
  return olderChanged;
}

/** The stream position of a series moves forward only (a late message never rewinds it). */
export function setPosition(symbol: string, interval: string, position: StreamPosition, store: StoreApi<MarketState> = market): void {
  const key = seriesKey(symbol, interval);
  const cur = store.getState().positionByKey[key];
  if (cur && cur.epoch === position.epoch && cur.offset >= position.offset) return;
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
 * `live_candle`: appended when newer than the last, replaces the candle with the same time, and is
 * ignored when older than the newest and not already present (a chart cannot insert in the middle).
 */
export function mergeCandle(symbol: string, interval: string, candle: Candle, store: StoreApi<MarketState> = market): void {
  const key = seriesKey(symbol, interval);
  const list = store.getState().candlesByKey[key] ?? [];
  const last = list[list.length - 1];
  let next: Candle[];
  if (!last || candle.time > last.time) {
    next = list.length >= MAX_CANDLES_PER_KEY ? [...list.slice(list.length - MAX_CANDLES_PER_KEY + 1), candle] : [...list, candle];
  } else {
    const i = indexOfTime(list, candle.time);
    if (i < 0) return;
    next = list.slice();
    next[i] = candle;
  }
  store.setState((s) => ({ candlesByKey: { ...s.candlesByKey, [key]: next }, lastUpdateAt: Date.now() }));
}

function indexOfTime(list: readonly Candle[], time: number): number {
  let lo = 0;
  let hi = list.length - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    const t = list[mid]!.time;
    if (t === time) return mid;
    if (t < time) lo = mid + 1;
    else hi = mid - 1;
  }
  return -1;
}

export function setConnection(connection: MarketState['connection'], store: StoreApi<MarketState> = market): void {
  store.setState({ connection });
}

export function setUpstream(upstream: MarketState['upstream'], source: string | null, store: StoreApi<MarketState> = market): void {
  store.setState({ upstream, source });
}

export function setError(error: string | null, store: StoreApi<MarketState> = market): void {
  store.setState({ error });
}

export function setSelection(symbol: string, interval: string, store: StoreApi<MarketState> = market): void {
  store.setState({ selection: { symbol, interval }, error: null });
}

export function setCatalog(
  catalog: { symbols: string[]; intervals: string[]; source: string | null; markets?: Market[]; configured?: string[] },
  store: StoreApi<MarketState> = market,
): void {
  const { symbols, intervals, source } = catalog;
  store.setState((s) => ({ symbols, intervals, markets: catalog.markets ?? [], configured: catalog.configured ?? symbols, source: s.source ?? source }));
}
