import type { DataLoader, KLineData } from 'klinecharts';
import type { StoreApi } from 'zustand/vanilla';
import { type Candle, seriesKey } from '../store/candle.ts';
import { type MarketState, market } from '../store/market.ts';
import { patchBars } from './patch-bars.ts';

export const OLDER_PAGE = 500;
/**
 * A page that failed is answered "more to come" after this long (the chart asks again when the trader
 * is at the left edge): answered "no more", it stopped scrolling back for good, silently (a review).
 */
export const OLDER_RETRY_MS = 5000;

/**
 * Bars the chart holds at most (as charting sites cap bars per chart). KLineChart computes every
 * indicator over its whole list at each update, so a list that kept growing (a 1s chart open all
 * day gains 86,400; scrolling back adds pages) made each update cost more: with 50,000 bars and two
 * derived series, a chart drew 13-17 frames a second (measured in headless Chromium). Scrolling back
 * stops at the cap; live bars past it (and a margin) drop the oldest while the trader is not looking at them.
 */
export const MAX_CHART_BARS = 20_000;
/** Live bars past the cap before the oldest go (at once, not one per bar). */
export const TRIM_MARGIN = 1_000;

const toKLine = (c: Candle): KLineData => ({ timestamp: c.time, open: c.open, high: c.high, low: c.low, close: c.close, volume: c.volume });

export interface LoaderDeps {
  /** The series the chart shows now (read at each call: symbol/interval switches reset the chart). */
  current(): { symbol: string; interval: string };
  /** Older candles than `endTime` from the engine (`GET /candles?endTime=&limit=`). */
  fetchOlder(symbol: string, interval: string, endTime: number, limit: number): Promise<Candle[]>;
  /** Derived series shown now (labels such as `rsi:period=21`): an older page brings their points too. */
  series?(): string[];
  /** Points of a derived series for the candles up to `endTime` (`GET /series/…?endTime=&limit=`), into the store. */
  fetchSeriesPage?(label: string, symbol: string, interval: string, endTime: number, limit: number): Promise<void>;
  store?: StoreApi<MarketState>;
  /** The chart's own bar list (KLineChart's getDataList: the live array), where bars repaired behind the newest are put in place. */
  chartBars?(): KLineData[] | undefined;
  /** Index in the chart's list of the first bar in view (KLineChart's getVisibleRange().from). */
  visibleFrom?(): number | undefined;
  /**
   * Reloads the chart from the store in one step, keeping what it shows (`carry`, then the chart's
   * resetData): for a frame with more new bars than RELOAD_AFTER_BARS. Without it they go one by one.
   */
  reload?(): void;
  /** Frame scheduler (requestAnimationFrame in the browser). */
  frame?: (fn: () => void) => number;
  /** Wait before a failed older page is answered "more to come" (default OLDER_RETRY_MS). */
  olderRetryMs?: number;
  cancelFrame?: (id: number) => void;
}

/**
 * New bars in one frame beyond which the chart is reloaded rather than fed bar by bar: each bar fed
 * recalculates every indicator over the whole chart, so a tab in the background (no frames) that came
 * back to 1,800 new bars of a 1s chart froze for 10 s, and to 6,000 ran out of memory (a chart soak).
 */
export const RELOAD_AFTER_BARS = 64;

/**
 * …on a large chart fewer: bars fed one by one times bars on the chart (each feed a recalculation
 * over all of them) past this, a reload (one recalculation) costs less. A chart soak: ~50 ms a bar
 * fed at 9,000 bars with six indicators, so 64 at once froze it for seconds. At least 2 (one bar a
 * frame is the live case).
 */
const RELOAD_AFTER_WORK = 64_000;
export const reloadAfter = (chartBars: number) => Math.max(2, Math.min(RELOAD_AFTER_BARS, Math.floor(RELOAD_AFTER_WORK / Math.max(1, chartBars))));

/** Bars of `next` older than `before` that `prev` lacks or holds as another object (both sorted by time). */
function changedBefore(prev: readonly Candle[], next: readonly Candle[], before: number): Candle[] {
  const out: Candle[] = [];
  let j = 0;
  for (const c of next) {
    if (c.time >= before) break;
    while (j < prev.length && prev[j]!.time < c.time) j++;
    if (prev[j] !== c) out.push(c);
  }
  return out;
}

/**
 * KLineChart's DataLoader over the store: `init` reads the series the socket put there, scrolling
 * left fetches older pages from the engine, and live updates reach the chart at most once per frame.
 * Returns the loader and a `dispose` that drops any pending subscription.
 */
export function createDataLoader(deps: LoaderDeps): DataLoader & { dispose(): void; carry(key: string, shown: readonly KLineData[]): void; shownKey(): string | undefined } {
  const store = deps.store ?? market;
  const frame = deps.frame ?? ((fn) => requestAnimationFrame(fn));
  const cancelFrame = deps.cancelFrame ?? ((id) => cancelAnimationFrame(id));
  let unsubscribeStore: (() => void) | undefined;
  let pendingFrame: number | undefined;
  // Bumped by every `init` (symbol/interval switch, reset after a reconnect): an older page fetched
  // for an earlier view must not be prepended to the new one.
  let epoch = 0;
  let olderRetry: ReturnType<typeof setTimeout> | undefined;
  // Older pages the chart showed before a reload of the same series (see `carry`).
  let carried: { key: string; bars: KLineData[] } | undefined;
  // The series whose bars the chart holds (none from an `init` until its answer, which is at once).
  let shown: string | undefined;

  const stopLive = () => {
    unsubscribeStore?.();
    unsubscribeStore = undefined;
    if (pendingFrame !== undefined) cancelFrame(pendingFrame);
    pendingFrame = undefined;
  };

  return {
    getBars({ type, timestamp, callback }) {
      const { symbol, interval } = deps.current();
      const key = seriesKey(symbol, interval);
      if (type === 'init') {
        epoch++;
        shown = undefined;
        const kept = carried?.key === key ? carried.bars : [];
        carried = undefined;
        const deliver = (list: Candle[]) => {
          const oldest = list[0]?.time ?? Number.POSITIVE_INFINITY;
          // Only history that reaches the new snapshot joins it: after an outage longer than the
          // snapshot, the bars between were missing for good, and the newest kept one was left half
          // formed (a chart soak: an 814-bar hole on a 1s chart). Scrolling left fetches them instead.
          const joins = (kept.at(-1)?.timestamp ?? Number.NEGATIVE_INFINITY) >= oldest;
          shown = key;
          callback([...(joins ? kept.filter((k) => k.timestamp < oldest) : []), ...list.map(toKLine)], { forward: true, backward: false });
        };
        const now = store.getState().candlesByKey[key];
        if (now?.length) return deliver(now);
        // Nothing for this series yet: the chart is emptied at once. KLineChart keeps its old list
        // until `init` is answered, and a switch that got no data (the engine refused it, or was
        // down) drew the previous series' candles under the new name for as long as that lasted (a
        // review). Its candles come in through subscribeBar (a snapshot: one reload, see `reload`),
        // and the chart reloads on its `historical` too (KlineChart's generation).
        shown = key;
        return callback([], { forward: false, backward: false });
      }
      // At the cap: no older pages (the chart says there are none).
      if (type === 'forward' && (deps.chartBars?.()?.length ?? 0) >= MAX_CHART_BARS) return callback([], { forward: false, backward: false });
      if (type === 'forward' && timestamp != null) {
        // Older history (scrolling left), page by page. A page that lands after the chart was reset
        // is dropped: the chart has already started loading the new view and must not get it.
        const asked = epoch;
        // Derived series' points for the same candles arrive with them (before the chart recalculates
        // its indicators over the page), so scrolled-back history has values, not n/a. A series that
        // fails to answer leaves its points missing and says so on the chart; the candles still come.
        const seriesPages = (deps.series?.() ?? []).map((label) => (deps.fetchSeriesPage?.(label, symbol, interval, timestamp - 1, OLDER_PAGE) ?? Promise.resolve()).catch(() => undefined));
        return Promise.all([deps.fetchOlder(symbol, interval, timestamp - 1, OLDER_PAGE), ...seriesPages]).then(([older]) => older).then(
          (older) => asked === epoch && callback(older.map(toKLine), { forward: older.length > 0, backward: false }),
          () => {
            if (asked !== epoch) return;
            clearTimeout(olderRetry);
            olderRetry = setTimeout(() => asked === epoch && callback([], { forward: true, backward: false }), deps.olderRetryMs ?? OLDER_RETRY_MS);
          },
        ).then(() => undefined);
      }
      callback([], { forward: true, backward: false });
    },
    subscribeBar({ callback }) {
      stopLive();
      const { symbol, interval } = deps.current();
      const key = seriesKey(symbol, interval);
      let pushedTime = store.getState().candlesByKey[key]?.at(-1)?.time ?? -Infinity;
      // The store's list as of the last flush: a bar older than the last pushed that is not the same
      // object there changed since (the store replaces only what changed).
      let flushed = store.getState().candlesByKey[key] ?? [];
      const flush = () => {
        pendingFrame = undefined;
        const list = store.getState().candlesByKey[key] ?? [];
        const shown = deps.chartBars?.();
        if (shown) {
          const repaired = changedBefore(flushed, list, pushedTime);
          // In place; the last pushed bar goes again below, so the chart recalculates and redraws.
          if (repaired.length) patchBars(shown, repaired.map(toKLine));
          // Past the cap: the oldest go, in place, unless the trader looks at them (then at a later frame).
          const excess = shown.length - MAX_CHART_BARS;
          if (excess > TRIM_MARGIN && (deps.visibleFrom?.() ?? 0) > excess) shown.splice(0, excess);
        }
        flushed = list;
        // Push the candle that was last pushed (it may have changed) and every newer one, in order.
        let i = list.length;
        while (i > 0 && list[i - 1]!.time >= pushedTime) i--;
        pushedTime = list.at(-1)?.time ?? pushedTime;
        if (deps.reload && list.length - i > reloadAfter(shown?.length ?? 0)) return deps.reload();
        for (; i < list.length; i++) callback(toKLine(list[i]!));
      };
      let lastList = store.getState().candlesByKey[key];
      unsubscribeStore = store.subscribe((s) => {
        const list = s.candlesByKey[key];
        if (list === lastList) return;
        lastList = list;
        if (pendingFrame === undefined) pendingFrame = frame(flush);
      });
    },
    unsubscribeBar() {
      stopLive();
    },
    /**
     * The chart reloads the same series from the store (a fresh `historical`: a reconnect that could not resume): the
     * older pages it had fetched while scrolled back (older than the store holds) go in again with
     * the next `init`, so the trader's history stays.
     */
    carry(key, bars) {
      carried = { key, bars: [...bars] };
    },
    /**
     * `SYMBOL:interval` of the bars in the chart now (none or few while its candles are on their way):
     * its range says nothing of another series (a reload in the frame of a switch).
     */
    shownKey: () => shown,
    dispose() {
      clearTimeout(olderRetry);
      stopLive();
    },
  };
}
