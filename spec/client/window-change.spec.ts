import { describe, expect, it } from 'vitest';
import { spanLabel, windowChange } from '../../client/src/window-change.ts';

const MIN = 60_000;
const HOUR = 60 * MIN;
const DAY = 24 * HOUR;
/** Bars `step` apart from t0, each closing at open + 1 (so the close says which bar it is). */
const bars = (n: number, step: number, t0 = 1_700_000_000_000 - (1_700_000_000_000 % DAY)) =>
  Array.from({ length: n }, (_, i) => ({ time: t0 + i * step, open: 100 + i, close: 101 + i }));

describe('windowChange: the header’s change says the span it covers', () => {
  it('on 1m, 720 bars (12 h) give the change over 12 h from the first open, and say 12 h', () => {
    const list = bars(720, MIN);
    expect(windowChange(list, '1m')).toEqual({ pct: ((820 - 100) / 100) * 100, spanMs: 12 * HOUR });
  });

  it('on 1m over more than a day, changes from the close of the bar covering 24 h back', () => {
    const list = bars(2000, MIN);
    const last = list.at(-1)!;
    const covering = list.find((b) => b.time === last.time - DAY)!;
    expect(windowChange(list, '1m')).toEqual({ pct: ((last.close - covering.close) / covering.close) * 100, spanMs: DAY });
  });

  it('on 1d, changes from yesterday’s close, not from the open of the day before (48 h back)', () => {
    const list = bars(30, DAY);
    const [y, t] = list.slice(-2) as [(typeof list)[0], (typeof list)[0]];
    expect(windowChange(list, '1d')).toEqual({ pct: ((t.close - y.close) / y.close) * 100, spanMs: DAY });
  });

  it('on 4h, changes from the close of the bar that opened 24 h before the latest', () => {
    const list = bars(20, 4 * HOUR);
    const ref = list.at(-7)!;
    expect(windowChange(list, '4h')!.pct).toBeCloseTo(((list.at(-1)!.close - ref.close) / ref.close) * 100, 10);
  });

  it('across a gap at 24 h back, takes the last bar before it', () => {
    const list = bars(2000, MIN).filter((b, i, all) => Math.abs(b.time - (all.at(-1)!.time - DAY)) > 10 * MIN);
    const target = list.at(-1)!.time - DAY;
    const before = list.filter((b) => b.time <= target).at(-1)!;
    expect(windowChange(list, '1m')!.pct).toBeCloseTo(((list.at(-1)!.close - before.close) / before.close) * 100, 10);
  });

  it('has nothing to say of no bars', () => {
    expect(windowChange([], '1m')).toBeUndefined();
  });

  it('labels spans short of a day', () => {
    expect([12 * HOUR, 45 * MIN, 150 * MIN].map(spanLabel)).toEqual(['12h', '45m', '2h 30m']);
  });
});
