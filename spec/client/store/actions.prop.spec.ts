import { fc, test } from '@fast-check/vitest';
import { describe, expect, it } from 'vitest';
import { createStore } from 'zustand/vanilla';
import { MAX_CANDLES_PER_KEY, MAX_SERIES_KEPT, mergeCandle, mergeCandles, setCandlesForSymbol, setPosition, setSelection } from '../../../client/src/store/actions.ts';
import type { Candle } from '../../../client/src/store/candle.ts';
import { initialMarketState, type MarketState } from '../../../client/src/store/market.ts';
import { setSeriesPoints, setSeriesStatus } from '../../../client/src/store/series-points.ts';

const fresh = () => createStore<MarketState>(initialMarketState);

const arbCandle = fc.record({ t: fc.integer({ min: 0, max: 30 }), close: fc.integer({ min: 1, max: 1000 }), closed: fc.boolean() }).map(
  ({ t, close, closed }): Candle => ({ time: t * 60_000, open: 100, high: 1000, low: 1, close, volume: 1, is_closed: closed }),
);
const arbEvent = fc.oneof(
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('historical' as const), data: fc.array(arbCandle, { maxLength: 20 }) }) },
  { weight: 6, arbitrary: fc.record({ kind: fc.constant('live' as const), candle: arbCandle }) },
);

describe('store actions (property)', () => {
  test.prop([fc.array(arbEvent, { maxLength: 80 })])(
    'the series stays strictly increasing and unique, each kept time holds the last value received for it, and the chart reloads exactly when an older bar changed',
    (events) => {
      const store = fresh();
      // Model: a map by time; historical replaces it; live sets a time newer than all, or one inside
      // the kept range (present: replaced; a hole repaired late: inserted); older than all is ignored.
      let model = new Map<number, Candle>();
      let reloads = 0;
      for (const e of events) {
        if (e.kind === 'historical') {
          setCandlesForSymbol('BTCUSDT', '1m', e.data, store);
          model = new Map(e.data.map((c) => [c.time, c]));
          reloads++;
        } else {
          const older = mergeCandle('BTCUSDT', '1m', e.candle, store);
          const times = [...model.keys()];
          const max = Math.max(...times);
          const was = model.get(e.candle.time);
          const min = Math.min(...times);
          const changedOlder = times.length > 0 && e.candle.time < max && e.candle.time >= min && JSON.stringify(was) !== JSON.stringify(e.candle);
          expect(older).toBe(changedOlder);
          if (!times.length || e.candle.time >= min) model.set(e.candle.time, e.candle);
        }
        const list = store.getState().candlesByKey['BTCUSDT:1m'] ?? [];
        for (let i = 1; i < list.length; i++) expect(list[i]!.time).toBeGreaterThan(list[i - 1]!.time);
        expect(list).toEqual([...model.values()].sort((a, b) => a.time - b.time));
        expect(store.getState().generationByKey['BTCUSDT:1m'] ?? 0).toBe(reloads);
      }
    },
  );

  test.prop([fc.array(arbEvent, { maxLength: 40 })])('series of other keys are never touched', (events) => {
    const store = fresh();
    setCandlesForSymbol('ETHUSDT', '5m', [{ time: 0, open: 1, high: 1, low: 1, close: 1, volume: 1, is_closed: true }], store);
    const before = store.getState().candlesByKey['ETHUSDT:5m'];
    for (const e of events) {
      if (e.kind === 'historical') setCandlesForSymbol('BTCUSDT', '1m', e.data, store);
      else mergeCandle('BTCUSDT', '1m', e.candle, store);
    }
    expect(store.getState().candlesByKey['ETHUSDT:5m']).toBe(before);
  });

  test.prop([fc.array(arbCandle, { maxLength: 20 }), fc.array(arbCandle, { maxLength: 30 }), fc.boolean()])(
    'a resume (mergeCandles) leaves what its bars merged one by one leave, and says the same, in one store update',
    (kept, resumed, atCap) => {
      // At the cap too: a long series whose oldest bars make room.
      const start = atCap ? Array.from({ length: MAX_CANDLES_PER_KEY }, (_, i): Candle => ({ time: (i - MAX_CANDLES_PER_KEY + 10) * 60_000, open: 1, high: 1, low: 1, close: 1, volume: 1, is_closed: true })) : [];
      const one = fresh();
      const batch = fresh();
      for (const s of [one, batch]) setCandlesForSymbol('BTCUSDT', '1m', [...start, ...kept], s);
      let olderOne = false;
      for (const c of [...resumed].sort((a, b) => a.time - b.time)) olderOne = mergeCandle('BTCUSDT', '1m', c, one) || olderOne;
      let updates = 0;
      const unsubscribe = batch.subscribe(() => updates++);
      expect(mergeCandles('BTCUSDT', '1m', resumed, batch)).toBe(olderOne);
      unsubscribe();
      expect(batch.getState().candlesByKey['BTCUSDT:1m']).toEqual(one.getState().candlesByKey['BTCUSDT:1m']);
      expect(updates).toBeLessThanOrEqual(1);
    },
  );

  it('caps what it keeps per key, dropping the oldest', () => {
    const store = fresh();
    for (let i = 0; i < MAX_CANDLES_PER_KEY + 10; i++) mergeCandle('BTCUSDT', '1m', { time: i, open: 1, high: 1, low: 1, close: 1, volume: 1, is_closed: true }, store);
    const list = store.getState().candlesByKey['BTCUSDT:1m']!;
    expect(list).toHaveLength(MAX_CANDLES_PER_KEY);
    expect(list[0]!.time).toBe(10);
  });

  it('bumps the generation on every historical, so the chart reloads after a reconnect', () => {
    const store = fresh();
    setCandlesForSymbol('BTCUSDT', '1m', [], store);
    setCandlesForSymbol('BTCUSDT', '1m', [], store);
    expect(store.getState().generationByKey['BTCUSDT:1m']).toBe(2);
  });

  it('merges a resume without a reload, and says when a bar older than the newest changed', () => {
    const store = fresh();
    const bar = (t: number, close: number, closed = true): Candle => ({ time: t * 60_000, open: 1, high: 9, low: 1, close, volume: 1, is_closed: closed });
    setCandlesForSymbol('BTCUSDT', '1m', [bar(1, 1), bar(2, 2), bar(3, 3, false)], store);
    // The forming bar's final and two new bars: merged in place, the generation stays.
    expect(mergeCandles('BTCUSDT', '1m', [bar(5, 5, false), bar(3, 3.5), bar(4, 4)], store)).toBe(false);
    expect(store.getState().candlesByKey['BTCUSDT:1m']!.map((c) => c.close)).toEqual([1, 2, 3.5, 4, 5]);
    expect(store.getState().generationByKey['BTCUSDT:1m']).toBe(1);
    // A repaired older bar: merged; the generation stays (the chart puts it in place, no reload).
    expect(mergeCandles('BTCUSDT', '1m', [bar(2, 2.5)], store)).toBe(true);
    expect(store.getState().candlesByKey['BTCUSDT:1m']!.map((c) => c.close)).toEqual([1, 2.5, 3.5, 4, 5]);
    expect(store.getState().generationByKey['BTCUSDT:1m']).toBe(1);
  });

  it('inserts a live bar that fills a hole inside the kept range (a gap repaired late), at the cap too; never one older than all kept', () => {
    const store = fresh();
    const bar = (t: number): Candle => ({ time: t * 60_000, open: 1, high: 9, low: 1, close: t, volume: 1, is_closed: true });
    const window = Array.from({ length: MAX_CANDLES_PER_KEY }, (_, i) => i).filter((t) => t !== 100 && t !== 101);
    setCandlesForSymbol('BTCUSDT', '1m', [...window, MAX_CANDLES_PER_KEY, MAX_CANDLES_PER_KEY + 1].map(bar), store);
    const times = () => store.getState().candlesByKey['BTCUSDT:1m']!.map((c) => c.time / 60_000);
    expect(times()).toHaveLength(MAX_CANDLES_PER_KEY);
    expect(mergeCandle('BTCUSDT', '1m', bar(101), store)).toBe(true);
    expect(mergeCandle('BTCUSDT', '1m', bar(100), store)).toBe(true);
    // The oldest made room: the window stays at the cap, whole from 2 on.
    expect(times()).toEqual(Array.from({ length: MAX_CANDLES_PER_KEY }, (_, i) => i + 2));
    expect(store.getState().generationByKey['BTCUSDT:1m']).toBe(1);
    // Older than everything kept: taking it would open a hole the chart never fills.
    expect(mergeCandle('BTCUSDT', '1m', bar(0), store)).toBe(false);
    expect(times()[0]).toBe(2);
    setCandlesForSymbol('BTCUSDT', '1m', [bar(500), bar(501)], store);
    expect(mergeCandle('BTCUSDT', '1m', bar(300), store)).toBe(false);
    expect(times()).toEqual([500, 501]);
  });

  it('keeps the last few series the chart showed, and nothing of the others, however many it browses', () => {
    const store = fresh();
    const candle: Candle = { time: 60_000, open: 1, high: 1, low: 1, close: 1, volume: 1, is_closed: true };
    // As the app does: the selection first, then the socket's snapshot, position and derived series.
    const show = (symbol: string) => {
      setSelection(symbol, '1m', store);
      setCandlesForSymbol(symbol, '1m', [candle], store);
      setPosition(symbol, '1m', { epoch: 'e', offset: 1 }, store);
      setSeriesPoints('rsi', symbol, '1m', [{ time: 60_000, values: { value: 50 } }], store);
      setSeriesStatus('rsi', symbol, '1m', { state: 'live' }, store);
    };
    const symbols = Array.from({ length: 200 }, (_, i) => `S${i}USDT`);
    for (const s of symbols) show(s);
    // Back to one still kept: it stays, and moves to the front of the list.
    show(symbols[195]!);
    const state = store.getState();
    const kept = [...symbols.slice(200 - MAX_SERIES_KEPT).filter((s) => s !== symbols[195]), symbols[195]].map((s) => `${s}:1m`);
    expect(state.recentKeys).toEqual(kept);
    for (const r of [state.candlesByKey, state.generationByKey, state.positionByKey]) expect(Object.keys(r).sort()).toEqual([...kept].sort());
    for (const r of [state.seriesPoints, state.seriesStatus]) expect(Object.keys(r).sort()).toEqual(kept.map((k) => `rsi|${k}`).sort());
    // The next one pushes out the least recent.
    show('NEWUSDT');
    expect(store.getState().candlesByKey[kept[0]!]).toBeUndefined();
    expect(store.getState().candlesByKey[kept[1]!]).toBeDefined();
    expect(Object.keys(store.getState().candlesByKey)).toHaveLength(MAX_SERIES_KEPT);
  });

  it('keeps the stream position moving forward only, per epoch', () => {
    const store = fresh();
    setPosition('BTCUSDT', '1m', { epoch: 'a', offset: 10 }, store);
    setPosition('BTCUSDT', '1m', { epoch: 'a', offset: 9 }, store);
    expect(store.getState().positionByKey['BTCUSDT:1m']).toEqual({ epoch: 'a', offset: 10 });
    setPosition('BTCUSDT', '1m', { epoch: 'b', offset: 3 }, store);
    expect(store.getState().positionByKey['BTCUSDT:1m']).toEqual({ epoch: 'b', offset: 3 });
  });
});
