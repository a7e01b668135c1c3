import { fc, test } from '@fast-check/vitest';
import type { OperatorFunction } from 'rxjs';
import { ATR, BollingerBands, EMA, MACD, RSI, SD, SMA, VWAP, WMA } from 'technicalindicators';
import { describe, expect } from 'vitest';
import { type Bar, sameBar } from '../../../engine/src/domain/bar.ts';
import { atr, bollingerBands, bucketOpen, ema, macd, rsi, sma, stddev, vwap, wma } from '../../../engine/src/operators/index.ts';
import { MINUTE, runSync, T0 } from '../../helpers/marbles.ts';
import { arbBarLife, arbOhlcv, toBar } from './bar-arbitraries.ts';

type Values = number | Readonly<Record<string, number>>;
interface AnyPoint {
  time: number;
  closed: boolean;
  value?: number;
  values?: Readonly<Record<string, number>>;
}
const valueOf = (p: AnyPoint): Values => p.value ?? p.values!;

const closes = (bars: Bar[]) => bars.map((b) => b.close);
const hlc = (bars: Bar[]) => ({ high: bars.map((b) => b.high), low: bars.map((b) => b.low), close: closes(bars) });

/** Wilder's RSI written out as a plain loop (technicalindicators rounds RSI to two decimals). */
function batchRsi(values: number[], period: number): number[] {
  const out: number[] = [];
  let gain = 0;
  let loss = 0;
  for (let i = 1; i < values.length; i++) {
    const change = values[i] - values[i - 1];
    const up = change > 0 ? change : 0;
    const down = change < 0 ? -change : 0;
    if (i < period) {
      gain += up;
      loss += down;
      continue;
    }
    if (i === period) {
      gain = (gain + up) / period;
      loss = (loss + down) / period;
    } else {
      gain = (gain * (period - 1) + up) / period;
      loss = (loss * (period - 1) + down) / period;
    }
    out.push(loss === 0 ? 100 : 100 - 100 / (1 + gain / loss));
  }
  return out;
}

/** technicalindicators' VWAP is cumulative over its input: run it once per session. */
function sessionVwap(bars: Bar[], anchor: string): number[] {
  const sessions = new Map<number, Bar[]>();
  for (const b of bars) {
    const key = bucketOpen(b.openTime, anchor);
    sessions.set(key, [...(sessions.get(key) ?? []), b]);
  }
  return [...sessions.values()].flatMap((s) => VWAP.calculate({ ...hlc(s), volume: s.map((b) => b.volume) }));
}

interface Case {
  name: string;
  operator: (period: number) => OperatorFunction<Bar, AnyPoint>;
  /** The independent batch values over closed bars. */
  reference: (bars: Bar[], period: number) => Values[];
  /** Allowed absolute error on top of 1e-9 relative (only RSI, which the library rounds). */
  slack?: number;
  /** A second, exact reference where the library's rounding rules it out. */
  exact?: (bars: Bar[], period: number) => Values[];
}

const cases: Case[] = [
  { name: 'sma', operator: (period) => sma({ period }), reference: (b, period) => SMA.calculate({ period, values: closes(b) }) },
  { name: 'ema', operator: (period) => ema({ period }), reference: (b, period) => EMA.calculate({ period, values: closes(b) }) },
  { name: 'wma', operator: (period) => wma({ period }), reference: (b, period) => WMA.calculate({ period, values: closes(b) }) },
  { name: 'stddev', operator: (period) => stddev({ period }), reference: (b, period) => SD.calculate({ period, values: closes(b) }) },
  {
    name: 'rsi',
    operator: (period) => rsi({ period }),
    reference: (b, period) => RSI.calculate({ period, values: closes(b) }),
    slack: 0.005 + 1e-9,
    exact: (b, period) => batchRsi(closes(b), period),
  },
  { name: 'atr', operator: (period) => atr({ period }), reference: (b, period) => ATR.calculate({ period, ...hlc(b) }) },
  {
    name: 'bollingerBands',
    operator: (period) => bollingerBands({ period, stdDev: 2 }),
    reference: (b, period) => BollingerBands.calculate({ period, stdDev: 2, values: closes(b) }).map(({ upper, middle, lower }) => ({ upper, middle, lower })),
  },
  {
    name: 'macd',
    operator: (period) => macd({ fastPeriod: period, slowPeriod: period + 5, signalPeriod: 4 }),
    reference: (b, period) =>
      MACD.calculate({ values: closes(b), fastPeriod: period, slowPeriod: period + 5, signalPeriod: 4, SimpleMAOscillator: false, SimpleMASignal: false })
        .filter((m) => m.signal !== undefined)
        .map((m) => ({ macd: m.MACD!, signal: m.signal!, histogram: m.histogram! })),
  },
  { name: 'vwap', operator: () => vwap({ anchor: '1h' }), reference: (b) => sessionVwap(b, '1h') },
];

function expectClose(actual: Values[], expected: Values[], slack = 0): void {
  expect(actual.length).toBe(expected.length);
  actual.forEach((a, i) => {
    const e = expected[i];
    const pairs: [number, number][] = typeof a === 'number' ? [[a, e as number]] : Object.keys(e).map((k) => [a[k], (e as Record<string, number>)[k]]);
    for (const [x, y] of pairs) {
      if (Math.abs(x - y) > 1e-9 * Math.max(1, Math.abs(x), Math.abs(y)) + slack) expect.fail(`#${i}: ${x} vs ${y}`);
    }
  });
}

const arbScenario = fc.record({
  lives: fc.array(arbBarLife, { minLength: 1, maxLength: 200 }),
  period: fc.integer({ min: 1, max: 30 }),
  /** Where previews are checked and where a closed bar is later corrected (as fractions of the length). */
  previewAt: fc.array(fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }), { maxLength: 3 }),
  correctAt: fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }),
  correction: arbOhlcv,
});

describe.each(cases)('$name (properties)', (c) => {
  test.prop([arbScenario], { numRuns: 100 })(
    'closed values ignore forming updates, previews never accumulate, corrections recompute, and values match an independent implementation',
    ({ lives, period, previewAt, correctAt, correction }) => {
      const at = (i: number) => T0 + i * MINUTE;
      const closedBars = lives.map((l, i) => toBar(at(i), l.final, true));
      const stream = lives.flatMap((l, i) => [...l.formings.map((f) => toBar(at(i), f, false)), closedBars[i]]);
      const batch = runSync(closedBars, c.operator(period));
      const live = runSync(stream, c.operator(period));

      // 1. The closed values equal the batch over closed bars, whatever forming updates came before.
      expect(live.filter((p) => p.closed)).toEqual(batch);
      expect(batch.every((p) => p.closed)).toBe(true);

      // 2. A preview is the committed state plus that one bar: the value it would get if it closed so.
      for (const f of previewAt) {
        const i = Math.floor(f * lives.length);
        for (const forming of lives[i].formings) {
          const previews = runSync([...closedBars.slice(0, i), toBar(at(i), forming, false)], c.operator(period));
          const asClosed = runSync([...closedBars.slice(0, i), toBar(at(i), forming, true)], c.operator(period)).filter((p) => p.time === at(i));
          expect(previews.filter((p) => !p.closed)).toEqual(asClosed.map((p) => ({ ...p, closed: false })));
        }
      }

      // 3. A late correction of closed bar k re-emits exactly the batch values of the corrected series from k on.
      const k = Math.floor(correctAt * lives.length);
      const fixed = toBar(at(k), correction, true);
      const corrected = closedBars.map((b, i) => (i === k ? fixed : b));
      const afterFix = runSync([...closedBars, fixed], c.operator(period)).slice(batch.length);
      const recomputed = runSync(corrected, c.operator(period)).filter((p) => p.time >= at(k));
      // An exact duplicate of a closed bar is no correction: nothing is re-emitted.
      expect(afterFix).toEqual(sameBar(fixed, closedBars[k]) ? [] : recomputed);

      // 4. Independent implementation.
      expectClose(batch.map(valueOf), c.reference(closedBars, period), c.slack);
      if (c.exact) expectClose(batch.map(valueOf), c.exact(closedBars, period));
    },
  );
});
