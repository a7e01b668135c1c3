import { describe, expect, it } from 'vitest';
import type { Bar } from '../../../engine/src/domain/bar.ts';
import { firstSuspect } from '../../../engine/src/pipeline/bootstrap.ts';

const M = 60_000;
const T0 = 1_700_000_040_000;
const bar = (i: number, closed = true): Bar => ({ openTime: T0 + i * M, open: 1, high: 2, low: 0.5, close: 1.5, volume: i, closed });

describe('firstSuspect (where a warm restart must fetch from)', () => {
  it('finds nothing in a whole history, whatever the newest bar is', () => {
    expect(firstSuspect([], '1m')).toBeUndefined();
    expect(firstSuspect([bar(0)], '1m')).toBeUndefined();
    expect(firstSuspect([bar(0), bar(1), bar(2, false)], '1m')).toBeUndefined();
  });

  it('finds the first missing bar between stored ones (a fill that failed before the restart)', () => {
    expect(firstSuspect([bar(0), bar(1), bar(4), bar(5), bar(8)], '1m')).toBe(T0 + 2 * M);
  });

  it('finds a bar left forming before the newest (its final never came)', () => {
    expect(firstSuspect([bar(0), bar(1, false), bar(2), bar(4)], '1m')).toBe(T0 + M);
  });

  it('measures holes in calendar months for 1M', () => {
    const jan = Date.UTC(2024, 0, 1);
    const feb = Date.UTC(2024, 1, 1);
    const apr = Date.UTC(2024, 3, 1);
    const m = (t: number): Bar => ({ ...bar(0), openTime: t });
    expect(firstSuspect([m(jan), m(feb)], '1M')).toBeUndefined();
    expect(firstSuspect([m(jan), m(feb), m(apr)], '1M')).toBe(Date.UTC(2024, 2, 1));
  });
});
