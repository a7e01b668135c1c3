import { describe, expect, it } from 'vitest';
import type { Bar } from '../../../engine/src/domain/bar.ts';
import { resample } from '../../../engine/src/operators/index.ts';
import { barAt, MINUTE, operatorChecklist, runSync, T0 } from '../../helpers/marbles.ts';

const agg = (i: number, o: number, h: number, l: number, c: number, volume: number, closed: boolean): Bar => ({
  openTime: T0 + i * MINUTE,
  open: o,
  high: h,
  low: l,
  close: c,
  volume,
  closed,
});

describe('resample (marbles)', () => {
  // 1m → 3m: b is replaced by c (volume stays 2), d is the bucket's third minute and closes it.
  operatorChecklist({
    operator: () => resample('3m', { sourceInterval: '1m' }),
    source: '-a-b-c-d-e-|',
    inputs: { a: barAt(0, 1), b: barAt(1, 2, false), c: barAt(1, 3), d: barAt(2, 4), e: barAt(3, 5, false) },
    expected: '-v-w-x-y-z-|',
    outputs: {
      v: agg(0, 1, 1, 1, 1, 1, false),
      w: agg(0, 1, 2, 1, 2, 2, false),
      x: agg(0, 1, 3, 1, 3, 2, false),
      y: agg(0, 1, 4, 1, 4, 3, true),
      z: agg(3, 5, 5, 5, 5, 1, false),
    },
    unsub: '^------!',
    unsubExpected: '-v-w-x-',
  });

  it('closes a bucket whose last input never came with what it has, when a later bucket starts', () => {
    const out = runSync([barAt(0, 1), barAt(1, 9, false), barAt(4, 2)], resample('3m', { sourceInterval: '1m' }));
    expect(out).toEqual([agg(0, 1, 1, 1, 1, 1, false), agg(0, 1, 9, 1, 9, 2, false), agg(0, 1, 9, 1, 9, 2, true), agg(3, 2, 2, 2, 2, 1, false)]);
  });

  it('never fabricates a price for a missing input: the bucket opens at its first present bar', () => {
    const out = runSync([barAt(1, 7), barAt(2, 8)], resample('3m', { sourceInterval: '1m' }));
    expect(out.at(-1)).toEqual(agg(0, 7, 8, 7, 8, 2, true));
  });

  it('drops inputs older than the newest one and anything after a bucket closed', () => {
    const out = runSync([barAt(1, 7), barAt(0, 1), barAt(2, 8), barAt(2, 9)], resample('3m', { sourceInterval: '1m' }));
    expect(out).toEqual([agg(0, 7, 7, 7, 7, 1, false), agg(0, 7, 8, 7, 8, 2, true)]);
  });

  it('aligns weeks to Monday 00:00 UTC, months to the calendar, and days to the time zone', () => {
    const sunday = Date.UTC(2024, 0, 7, 23, 59);
    const week = runSync([{ ...barAt(0, 1), openTime: sunday }], resample('1w', { sourceInterval: '1m' }));
    expect(week[0].openTime).toBe(Date.UTC(2024, 0, 1));
    const leap = runSync([{ ...barAt(0, 1), openTime: Date.UTC(2024, 1, 29, 23, 59) }], resample('1M', { sourceInterval: '1m' }));
    expect(leap[0]).toMatchObject({ openTime: Date.UTC(2024, 1, 1), closed: true });
    const tz = runSync([{ ...barAt(0, 1), openTime: Date.UTC(2024, 0, 1, 15, 59) }], resample('1d', { sourceInterval: '1m', timeZone: '+08:00' }));
    expect(tz[0]).toMatchObject({ openTime: Date.UTC(2023, 11, 31, 16), closed: true });
  });

  it('builds custom intervals and rejects ones its source cannot tile, naming interval', () => {
    const custom = runSync([barAt(0, 1), barAt(15, 2), barAt(30, 3), barAt(45, 4)], resample('45m', { sourceInterval: '15m' }));
    expect(custom.map((b) => [b.openTime - T0, b.close, b.closed])).toEqual([
      [0, 1, false],
      [0, 2, false],
      [0, 3, true],
      [45 * MINUTE, 4, false],
    ]);
    expect(() => resample('5m', { sourceInterval: '3m' })).toThrow(/resample: interval/);
    expect(() => resample('1m', { sourceInterval: '1h' })).toThrow(/resample: interval/);
    expect(() => resample('1w', { sourceInterval: '3d' })).toThrow(/resample: interval/);
    expect(() => resample('1d', { sourceInterval: '1h', timeZone: '+05:30' })).toThrow(/resample: interval/);
    expect(() => resample('2x', { sourceInterval: '1m' })).toThrow(/resample: interval/);
    expect(() => resample('1h', { sourceInterval: 'nope' })).toThrow(/resample: sourceInterval/);
    expect(() => resample('1h', { sourceInterval: '1m', timeZone: 'Mars' })).toThrow(/resample: timeZone/);
    expect(() => resample('1d', { sourceInterval: '30m', timeZone: '+05:30' })).not.toThrow();
    expect(() => resample('2M', { sourceInterval: '1d', timeZone: 8 })).not.toThrow();
  });
});
