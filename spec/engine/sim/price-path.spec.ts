import { fc, test } from '@fast-check/vitest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Candle, PriceModel } from '../../../engine/sim/price-model.ts';
import { type SimExchange, startSimExchange } from '../../../engine/sim/sim-exchange.ts';
import { klineEvent } from '../../../engine/sim/sim-format.ts';
import { buildUniverse } from '../../../engine/sim/sim-universe.ts';
import { bucketOpen } from '../../../engine/src/domain/interval.ts';
import { StreamClient } from './stream-client.ts';

const S = 1000;
const M = 60_000;
const LISTED = Date.UTC(2019, 0, 1);
const model = new PriceModel(3, LISTED);
const universe = buildUniverse(3, 200).map((e) => e.symbol);
const arbSymbol = fc.constantFrom(...universe);
const arbMinute = fc.integer({ min: LISTED / M + 1, max: Date.UTC(2026, 0, 1) / M }).map((m) => m * M);
const fields = (c: Candle) => ({ o: c.o, h: c.h, l: c.l, c: c.c, v: c.v, q: c.q, tv: c.tv, tq: c.tq, trades: c.trades, firstTrade: c.firstTrade });
/** The model, dumber than the system: merge candles one by one. */
function mergeAll(cs: Candle[]) {
  return {
    o: cs[0]!.o,
    h: Math.max(...cs.map((c) => c.h)),
    l: Math.min(...cs.map((c) => c.l)),
    c: cs.at(-1)!.c,
    v: cs.reduce((n, c) => n + c.v, 0),
    q: cs.reduce((n, c) => n + c.q, 0),
    tv: cs.reduce((n, c) => n + c.tv, 0),
    tq: cs.reduce((n, c) => n + c.tq, 0),
    trades: cs.reduce((n, c) => n + c.trades, 0),
    firstTrade: cs[0]!.firstTrade,
  };
}

describe('the price path moves every second', () => {
  test.prop([arbSymbol, arbMinute], { numRuns: 200 })('a minute’s sixty 1s candles aggregate into its 1m candle, every field', (symbol, t0) => {
    const seconds = Array.from({ length: 60 }, (_, j) => model.second(symbol, t0 + j * S, Infinity)!);
    expect(mergeAll(seconds)).toEqual(fields(model.minute(symbol, t0)));
    // Every second trades: the forming bar has something new at every push.
    for (const c of seconds) expect(c.trades).toBeGreaterThan(0);
  });

  test.prop([arbSymbol, arbMinute.map((t) => Math.floor(t / 86_400_000) * 86_400_000)], { numRuns: 30 })(
    'a day is its 24 hours, an hour its 60 minutes, every field (history costs a step per day, not per minute)',
    (symbol, day) => {
      const hours = Array.from({ length: 24 }, (_, i) => model.aggregate(symbol, day + i * 3_600_000, day + (i + 1) * 3_600_000)!);
      expect(mergeAll(hours)).toEqual(fields(model.aggregate(symbol, day, day + 86_400_000)!));
      const hour = day + 13 * 3_600_000;
      const minutes = Array.from({ length: 60 }, (_, i) => model.minute(symbol, hour + i * M));
      expect(mergeAll(minutes)).toEqual(fields(hours[13]!));
      // Every price is a positive whole number of ticks; every child lies within its parent.
      for (const c of [...hours, ...minutes]) {
        expect(Number.isInteger(c.o) && Number.isInteger(c.h) && Number.isInteger(c.l) && Number.isInteger(c.c)).toBe(true);
        expect(c.l).toBeGreaterThanOrEqual(1);
        expect(c.h).toBeGreaterThanOrEqual(Math.max(c.o, c.c));
        expect(c.l).toBeLessThanOrEqual(Math.min(c.o, c.c));
        expect(c.tv).toBeLessThanOrEqual(c.v);
      }
    },
  );

  test.prop([arbSymbol, arbMinute], { numRuns: 100 })('a forming minute only widens, its volume grows every second, and it ends as the final candle', (symbol, t0) => {
    let prev = model.partialMinute(symbol, t0, t0);
    expect([prev.h, prev.l, prev.c, prev.v, prev.trades]).toEqual([prev.o, prev.o, prev.o, 0, 0]);
    for (let e = 1; e <= 60; e++) {
      const c = model.partialMinute(symbol, t0, t0 + e * S + 500);
      expect(c.o).toBe(prev.o);
      expect(c.h).toBeGreaterThanOrEqual(prev.h);
      expect(c.l).toBeLessThanOrEqual(prev.l);
      expect(c.v).toBeGreaterThan(prev.v);
      expect(c.trades).toBeGreaterThan(prev.trades);
      // The close at second e is the close of the 1s candle that ended then.
      expect(c.c).toBe(model.second(symbol, t0 + (e - 1) * S, Infinity)!.c);
      prev = c;
    }
    expect(prev).toEqual(model.minute(symbol, t0));
  });

  test.prop([arbSymbol, fc.constantFrom('1m', '5m', '15m', '1h', '4h', '1d'), fc.integer({ min: Date.UTC(2024, 0, 1), max: Date.UTC(2026, 0, 1) })], { numRuns: 150 })(
    'two pushes 2 s apart in one bucket give different forming candles',
    (symbol, interval, at) => {
      const open = bucketOpen(at, interval);
      const next = at + 2 * S;
      fc.pre(at > open && bucketOpen(next, interval) === open && Math.floor(next / M) === Math.floor(at / M));
      const a = model.candle(symbol, interval, open, at)!;
      const b = model.candle(symbol, interval, open, next)!;
      expect(b.v).toBeGreaterThan(a.v);
      expect(b.trades).toBeGreaterThan(a.trades);
    },
  );

  it('candles have realistic wicks: most minutes have both, a few hundredths of a percent long, reached inside the minute', () => {
    const day = Date.UTC(2025, 3, 2);
    for (const symbol of ['BTCUSDT', 'ETHUSDT', universe[150]!]) {
      let both = 0;
      let rel = 0;
      let inside = 0;
      for (let t = day; t < day + 1440 * M; t += M) {
        const c = model.minute(symbol, t);
        if (c.h > Math.max(c.o, c.c) && c.l < Math.min(c.o, c.c)) both++;
        rel += (c.h - c.l) / c.h;
        if (t < day + 60 * M) {
          const highs = Array.from({ length: 60 }, (_, j) => model.second(symbol, t + j * S, Infinity)!.h);
          const at = highs.indexOf(c.h);
          if (at > 0 && at < 59) inside++;
        }
      }
      expect(both / 1440, symbol).toBeGreaterThan(symbol.endsWith('USDT') && symbol.length <= 8 ? 0.9 : 0.5);
      expect(rel / 1440, symbol).toBeGreaterThan(2e-4);
      expect(rel / 1440, symbol).toBeLessThan(3e-3);
      expect(inside, symbol).toBeGreaterThan(40);
    }
  });
  test.prop([fc.constantFrom(['BTCUSDT', '1m'] as const, ['ETHUSDT', '1h'] as const), fc.integer({ min: 0, max: 2000 }).map((d) => Date.UTC(2024, 0, 1) + d * 86_400_000)], { numRuns: 3 })(
    'at Binance\'s pace (a push every 2 s) the forming close moves at most pushes, over a whole day',
    ([symbol, interval], day) => {
      const step = interval === '1m' ? M : 60 * M;
      let pairs = 0;
      let moved = 0;
      for (let at = day + S; at + 2 * S < day + 86_400_000; at += 2 * S) {
        const open = Math.floor(at / step) * step;
        if (open !== Math.floor((at + 2 * S) / step) * step) continue;
        pairs++;
        if (model.candle(symbol, interval, open, at)!.c !== model.candle(symbol, interval, open, at + 2 * S)!.c) moved++;
      }
      expect(moved / pairs).toBeGreaterThan(0.9);
    },
  );
});

describe('over the socket: the forming bar changes at every push', () => {
  let sim: SimExchange;
  beforeAll(async () => {
    // Ten times Binance's pace: a push every 200 ms is a push every 2 s of sim time, as Binance's.
    sim = await startSimExchange({ symbols: ['BTCUSDT', 'ETHUSDT'], pushIntervalMs: 200, clockSpeed: 10 });
  });
  afterAll(async () => {
    await sim?.close();
  });

  it('every forming frame is the model\'s candle at its event time; consecutive ones of a candle differ (volume and trades always)', async () => {
    // The simulator's own model (its default seed and listing date): a frame is checked against it
    // exactly, so whether the close moved between two frames is the model's to say (tested below, over
    // whole days: the price is flat for a few seconds now and then, which a 14-frame sample may catch).
    const simModel = new PriceModel(1, LISTED);
    const c = new StreamClient(`${sim.wsUrl}/stream?streams=btcusdt@kline_1m/ethusdt@kline_1h`);
    try {
      // 3 s of frames on a quiet machine: room for a loaded one (the suite runs in parallel forks on 2 cores).
      await c.until(() => c.klines('btcusdt@kline_1m').filter((e) => !e.k.x).length >= 15 && c.klines('ethusdt@kline_1h').length >= 15, 25_000, 'forming frames');
      for (const stream of ['btcusdt@kline_1m', 'ethusdt@kline_1h']) {
        const forming = c.klines(stream).filter((e) => !e.k.x);
        for (const e of forming) {
          const truth = klineEvent(e.s, e.k.i, simModel.candle(e.s, e.k.i, e.k.t, e.E)!, false, e.E);
          expect(e, stream).toEqual(truth);
        }
        let pairs = 0;
        for (let i = 1; i < forming.length; i++) {
          const [a, b] = [forming[i - 1]!, forming[i]!];
          if (a.k.t !== b.k.t) continue;
          pairs++;
          expect(Number(b.k.v), stream).toBeGreaterThan(Number(a.k.v));
          expect(b.k.n, stream).toBeGreaterThan(a.k.n);
        }
        expect(pairs, stream).toBeGreaterThanOrEqual(10);
      }
    } finally {
      c.close();
    }
  }, 40_000);
});
