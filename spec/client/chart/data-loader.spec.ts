import type { KLineData } from 'klinecharts';
import { describe, expect, it } from 'vitest';
import { createStore } from 'zustand/vanilla';
import { createDataLoader, MAX_CHART_BARS, RELOAD_AFTER_BARS, reloadAfter } from '../../../client/src/chart/data-loader.ts';
import { mergeCandle, setCandlesForSymbol } from '../../../client/src/store/actions.ts';
import type { Candle } from '../../../client/src/store/candle.ts';
import { initialMarketState, type MarketState } from '../../../client/src/store/market.ts';

const c = (i: number, close = i): Candle => ({ time: i * 60_000, open: 1, high: 9, low: 0, close, volume: 1, is_closed: true });
const store = () => createStore<MarketState>(initialMarketState);
const symbol = { ticker: 'BTCUSDT', pricePrecision: 2, volumePrecision: 2 };
const period = { type: 'minute' as const, span: 1 };

function setup() {
  const s = store();
  const frames: Array<() => void> = [];
  const older: Array<[number, number]> = [];
  const loader = createDataLoader({
    store: s,
    current: () => ({ symbol: 'BTCUSDT', interval: '1m' }),
    fetchOlder: async (_sym, _iv, endTime, limit) => {
      older.push([endTime, limit]);
      return [c(1), c(2)];
    },
    frame: (fn) => frames.push(fn),
    cancelFrame: () => undefined,
  });
  return { s, frames, older, loader };
}

describe('chart data loader', () => {
  it('answers init from the store when the historical message is there', () => {
    const { s, loader } = setup();
    setCandlesForSymbol('BTCUSDT', '1m', [c(5), c(6)], s);
    const got: KLineData[][] = [];
    void loader.getBars({ type: 'init', timestamp: null, symbol, period, callback: (d) => got.push(d) });
    expect(got).toHaveLength(1);
    expect(got[0]!.map((k) => k.timestamp)).toEqual([c(5).time, c(6).time]);
    expect(loader.shownKey()).toBe('BTCUSDT:1m');
  });

  it('answers init with no bars at once when the store has none of the series, and its snapshot then comes in (reproduced: a switch the engine refused, or made while it was down, drew the previous series under the new name)', () => {
    const s = store();
    const frames: Array<() => void> = [];
    let reloads = 0;
    let cur = { symbol: 'BTCUSDT', interval: '1m' };
    const loader = createDataLoader({ store: s, current: () => cur, fetchOlder: async () => [], frame: (fn) => frames.push(fn), cancelFrame: () => undefined, reload: () => reloads++ });
    setCandlesForSymbol('BTCUSDT', '1m', [c(5), c(6)], s);
    const answers: Array<{ key: string; bars: number[] }> = [];
    const init = () =>
      void loader.getBars({ type: 'init', timestamp: null, symbol, period, callback: (d) => answers.push({ key: `${cur.symbol}:${cur.interval}`, bars: d.map((k) => k.timestamp / 60_000) }) });
    init();
    // A switch to a series the store has nothing of (its socket refused, or the engine down): the
    // chart's list is replaced by an empty one in the same call, not left holding BTCUSDT's bars.
    cur = { symbol: 'ETHUSDT', interval: '1m' };
    init();
    expect(answers).toEqual([
      { key: 'BTCUSDT:1m', bars: [5, 6] },
      { key: 'ETHUSDT:1m', bars: [] },
    ]);
    expect(loader.shownKey()).toBe('ETHUSDT:1m');
    // Its snapshot comes later: in through the live subscription, a big one as one reload.
    const pushed: number[] = [];
    loader.subscribeBar!({ symbol, period, callback: (k) => pushed.push(k.timestamp / 60_000) });
    setCandlesForSymbol('ETHUSDT', '1m', [c(7), c(8)], s);
    frames.shift()!();
    expect(pushed).toEqual([7, 8]);
    setCandlesForSymbol('ETHUSDT', '1m', Array.from({ length: RELOAD_AFTER_BARS + 1 }, (_, i) => c(9 + i)), s);
    frames.shift()!();
    expect(reloads).toBe(1);
    init();
    expect(answers.at(-1)!.bars).toHaveLength(RELOAD_AFTER_BARS + 1);
  });

  it('gives back the older pages the chart showed when it reloads the same series, once, never another series', () => {
    const { s, loader } = setup();
    setCandlesForSymbol('BTCUSDT', '1m', [c(5), c(6)], s);
    const k = (i: number): KLineData => ({ timestamp: c(i).time, open: 1, high: 9, low: 0, close: i, volume: 1 });
    const init = () => {
      const got: number[] = [];
      void loader.getBars({ type: 'init', timestamp: null, symbol, period, callback: (d) => got.push(...d.map((x) => x.timestamp / 60_000)) });
      return got;
    };
    // The chart held pages 1..4 scrolled back, and the store's 5, 6 (the older store bars are not carried twice).
    loader.carry('BTCUSDT:1m', [k(1), k(2), k(3), k(4), k(5), k(6)]);
    expect(init()).toEqual([1, 2, 3, 4, 5, 6]);
    expect(init()).toEqual([5, 6]);
    loader.carry('ETHUSDT:1m', [k(1), k(2)]);
    expect(init()).toEqual([5, 6]);
    // Pages that do not reach the new snapshot (an outage longer than it): not carried, no hole
    // (reproduced: 1..3 kept before 5, 4 missing for good, 3 as it was last seen, maybe half formed).
    loader.carry('BTCUSDT:1m', [k(1), k(2), k(3)]);
    expect(init()).toEqual([5, 6]);
  });

  it('loads older pages from the engine when scrolled to the left edge', async () => {
    const { loader, older } = setup();
    const got: KLineData[][] = [];
    await loader.getBars({ type: 'forward', timestamp: c(5).time, symbol, period, callback: (d) => got.push(d) });
    expect(older).toEqual([[c(5).time - 1, 500]]);
    expect(got[0]!.map((k) => k.close)).toEqual([1, 2]);
  });

  it('answers a failed older page "more to come" after a pause, so scrolling back goes on (reproduced: "no more", for good)', async () => {
    let fail = true;
    const loader = createDataLoader({
      store: store(),
      current: () => ({ symbol: 'BTCUSDT', interval: '1m' }),
      fetchOlder: async () => {
        if (fail) throw new Error('502 could not load candles');
        return [c(1), c(2)];
      },
      olderRetryMs: 30,
    });
    const got: Array<{ bars: number; forward: unknown }> = [];
    const ask = () => loader.getBars({ type: 'forward', timestamp: c(5).time, symbol, period, callback: (d, m) => got.push({ bars: d.length, forward: typeof m === 'object' ? m.forward : m }) });
    await ask();
    expect(got).toEqual([]);
    await new Promise((r) => setTimeout(r, 60));
    expect(got).toEqual([{ bars: 0, forward: true }]);
    fail = false;
    await ask();
    expect(got[1]).toEqual({ bars: 2, forward: true });
    loader.dispose();
  });

  it('drops an older page that lands after the chart was reset (symbol switch or reconnect)', async () => {
    const s = store();
    let current = { symbol: 'BTCUSDT', interval: '1m' };
    let answer!: (page: Candle[]) => void;
    const loader = createDataLoader({
      store: s,
      current: () => current,
      fetchOlder: () => new Promise<Candle[]>((resolve) => (answer = resolve)),
    });
    const got: number[][] = [];
    const pending = loader.getBars({ type: 'forward', timestamp: c(5).time, symbol, period, callback: (d) => got.push(d.map((k) => k.timestamp)) });
    current = { symbol: 'ETHUSDT', interval: '1m' };
    setCandlesForSymbol('ETHUSDT', '1m', [c(9)], s);
    void loader.getBars({ type: 'init', timestamp: null, symbol, period, callback: (d) => got.push(d.map((k) => k.timestamp)) });
    answer([c(1), c(2)]);
    await pending;
    expect(got).toEqual([[c(9).time]]);
    // Pages asked for the current view still arrive.
    const next = loader.getBars({ type: 'forward', timestamp: c(9).time, symbol, period, callback: (d) => got.push(d.map((k) => k.timestamp)) });
    answer([c(7), c(8)]);
    await next;
    expect(got).toEqual([[c(9).time], [c(7).time, c(8).time]]);
  });

  it('pushes live updates at most once per frame, newest values only, in order', () => {
    const { s, frames, loader } = setup();
    setCandlesForSymbol('BTCUSDT', '1m', [c(5)], s);
    const pushed: number[] = [];
    loader.subscribeBar!({ symbol, period, callback: (k) => pushed.push(k.close) });
    mergeCandle('BTCUSDT', '1m', c(5, 50), s);
    mergeCandle('BTCUSDT', '1m', c(5, 51), s);
    mergeCandle('BTCUSDT', '1m', c(6, 60), s);
    expect(frames).toHaveLength(1);
    frames.shift()!();
    expect(pushed).toEqual([51, 60]);
    loader.unsubscribeBar!({ symbol, period });
    mergeCandle('BTCUSDT', '1m', c(7), s);
    expect(frames).toHaveLength(0);
  });

  it(`reloads the chart once for a frame with more than ${RELOAD_AFTER_BARS} new bars (back from a background tab), and feeds fewer bar by bar`, () => {
    const s = store();
    const frames: Array<() => void> = [];
    let reloads = 0;
    const loader = createDataLoader({ store: s, current: () => ({ symbol: 'BTCUSDT', interval: '1m' }), fetchOlder: async () => [], frame: (fn) => frames.push(fn), cancelFrame: () => undefined, reload: () => reloads++ });
    setCandlesForSymbol('BTCUSDT', '1m', [c(1)], s);
    const pushed: number[] = [];
    loader.subscribeBar!({ symbol, period, callback: (k) => pushed.push(k.timestamp / 60_000) });
    // Reproduced before: every one of them fed alone, each a recalculation of the whole chart.
    for (let i = 2; i <= RELOAD_AFTER_BARS + 2; i++) mergeCandle('BTCUSDT', '1m', c(i), s);
    frames.shift()!();
    expect(reloads).toBe(1);
    expect(pushed).toEqual([]);
    for (let i = RELOAD_AFTER_BARS + 3; i <= RELOAD_AFTER_BARS + 5; i++) mergeCandle('BTCUSDT', '1m', c(i), s);
    frames.shift()!();
    expect(reloads).toBe(1);
    expect(pushed).toEqual([RELOAD_AFTER_BARS + 2, RELOAD_AFTER_BARS + 3, RELOAD_AFTER_BARS + 4, RELOAD_AFTER_BARS + 5]);
  });

  it('on a large chart reloads for fewer new bars in a frame (each fed one recalculates all of them), never for one', () => {
    expect(reloadAfter(500)).toBe(RELOAD_AFTER_BARS);
    expect(reloadAfter(20_000)).toBe(3);
    expect(reloadAfter(1_000_000)).toBe(2);
    const s = store();
    const frames: Array<() => void> = [];
    let reloads = 0;
    const shown: KLineData[] = Array.from({ length: 16_000 }, (_, i) => ({ timestamp: (i - 16_000) * 60_000, open: 1, high: 9, low: 0, close: 1, volume: 1 }));
    const loader = createDataLoader({ store: s, current: () => ({ symbol: 'BTCUSDT', interval: '1m' }), fetchOlder: async () => [], frame: (fn) => frames.push(fn), cancelFrame: () => undefined, reload: () => reloads++, chartBars: () => shown });
    setCandlesForSymbol('BTCUSDT', '1m', [c(1)], s);
    const pushed: number[] = [];
    loader.subscribeBar!({ symbol, period, callback: (k) => pushed.push(k.timestamp / 60_000) });
    // 16,000 bars: at most 4 fed one by one.
    for (const n of [2, 3, 4]) mergeCandle('BTCUSDT', '1m', c(n), s);
    frames.shift()!();
    expect(reloads).toBe(0);
    expect(pushed).toEqual([1, 2, 3, 4]);
    for (let n = 5; n <= 9; n++) mergeCandle('BTCUSDT', '1m', c(n), s);
    frames.shift()!();
    expect(reloads).toBe(1);
  });

  it('puts a bar repaired behind the newest into the chart\'s own list in place, and pushes the newest again so the chart redraws (was: a reload of the chart)', () => {
    const s = store();
    const frames: Array<() => void> = [];
    const shown: KLineData[] = [];
    const loader = createDataLoader({ store: s, current: () => ({ symbol: 'BTCUSDT', interval: '1m' }), fetchOlder: async () => [], frame: (fn) => frames.push(fn), cancelFrame: () => undefined, chartBars: () => shown });
    // The chart holds an older page (1, 2) and the store's bars, with a hole at 5.
    setCandlesForSymbol('BTCUSDT', '1m', [c(3), c(4), c(6), c(7)], s);
    shown.push(...[1, 2, 3, 4, 6, 7].map((i) => ({ timestamp: c(i).time, open: 1, high: 9, low: 0, close: i, volume: 1 })));
    const pushed: number[] = [];
    loader.subscribeBar!({ symbol, period, callback: (k) => pushed.push(k.close) });
    mergeCandle('BTCUSDT', '1m', c(5, 50), s);
    mergeCandle('BTCUSDT', '1m', c(3, 30), s);
    // The same bar again changes nothing.
    mergeCandle('BTCUSDT', '1m', c(4), s);
    frames.shift()!();
    expect(shown.map((k) => k.close)).toEqual([1, 2, 30, 4, 50, 6, 7]);
    expect(pushed).toEqual([7]);
    // Later frames find nothing more to put in.
    mergeCandle('BTCUSDT', '1m', c(8), s);
    frames.shift()!();
    expect(shown.map((k) => k.close)).toEqual([1, 2, 30, 4, 50, 6, 7]);
    expect(pushed).toEqual([7, 7, 8]);
  });

  it('holds at most MAX_CHART_BARS: no older page at the cap; live bars past it and a margin drop the oldest, unless in view', async () => {
    const s = store();
    const frames: Array<() => void> = [];
    const shown: KLineData[] = [];
    let from = 0;
    let fetched = 0;
    const loader = createDataLoader({
      store: s,
      current: () => ({ symbol: 'BTCUSDT', interval: '1m' }),
      fetchOlder: async () => (fetched++, [c(1)]),
      frame: (fn) => frames.push(fn),
      cancelFrame: () => undefined,
      chartBars: () => shown,
      visibleFrom: () => from,
    });
    const k = (i: number): KLineData => ({ timestamp: c(i).time, open: 1, high: 9, low: 0, close: i, volume: 1 });
    const n = MAX_CHART_BARS + 1_000;
    for (let i = 0; i < n; i++) shown.push(k(i));
    setCandlesForSymbol('BTCUSDT', '1m', [c(n - 1)], s);
    const more: boolean[] = [];
    await loader.getBars({ type: 'forward', timestamp: shown[0]!.timestamp, symbol, period, callback: (d, m) => more.push(d.length > 0 || (typeof m === 'object' && m.forward === true)) });
    expect(fetched).toBe(0);
    expect(more).toEqual([false]);
    loader.subscribeBar!({ symbol, period, callback: (b) => shown.at(-1)!.timestamp < b.timestamp && shown.push(b) });
    // At the margin: kept.
    mergeCandle('BTCUSDT', '1m', c(n), s);
    mergeCandle('BTCUSDT', '1m', c(n + 1), s);
    frames.shift()!();
    expect(shown).toHaveLength(n + 2);
    // Past it, the trader looking at the oldest bars: kept.
    mergeCandle('BTCUSDT', '1m', c(n + 2), s);
    frames.shift()!();
    expect(shown).toHaveLength(n + 3);
    // Back at the live end: the oldest go, the newest stay, in order.
    from = n - 100;
    mergeCandle('BTCUSDT', '1m', c(n + 3), s);
    frames.shift()!();
    expect(shown).toHaveLength(MAX_CHART_BARS + 1);
    expect(shown.at(-1)!.close).toBe(n + 3);
    expect(shown[0]!.close).toBe(n + 3 - MAX_CHART_BARS);
  });
});
