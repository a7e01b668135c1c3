import { describe, expect, it } from 'vitest';
import { vwap } from '../../../engine/src/operators/index.ts';
import { barAt, MINUTE, operatorChecklist, runSync, T0 } from '../../helpers/marbles.ts';

const t = (i: number) => T0 + i * MINUTE;
const DAY_MINUTES = 1440;

describe('vwap (marbles)', () => {
  // typical price = close here (high = low = close); the forming bar's volume replaces, never adds
  operatorChecklist({
    operator: () => vwap({ anchor: '1d' }),
    source: '-a-b-c-d-|',
    inputs: { a: barAt(0, 10), b: barAt(1, 20, false), c: barAt(1, 40, true, { volume: 3 }), d: barAt(DAY_MINUTES, 7, false) },
    expected: '-w-x-y-z-|',
    outputs: {
      w: { time: t(0), value: 10, closed: true },
      x: { time: t(1), value: 15, closed: false },
      y: { time: t(1), value: 32.5, closed: true },
      z: { time: t(DAY_MINUTES), value: 7, closed: false },
    },
    unsub: '^-----!',
    unsubExpected: '-w-x-y',
  });

  it('anchors sessions in the time zone and emits nothing while a session has no volume', () => {
    // +08:00 days start at 16:00 UTC: minute 959 and 960 of a UTC day fall in different sessions
    const bars = [barAt(959, 10), barAt(960, 5, true, { volume: 0 }), barAt(961, 20)];
    expect(runSync(bars, vwap({ timeZone: '+08:00' })).map((p) => p.value)).toEqual([10, 20]);
    expect(runSync(bars, vwap()).map((p) => p.value)).toEqual([10, 10, 15]);
  });

  it('rejects a bad anchor or timeZone with a TypeError naming it', () => {
    expect(() => vwap({ anchor: 'daily' })).toThrow(/vwap: anchor/);
    expect(() => vwap({ timeZone: '+25:00' })).toThrow(/vwap: timeZone/);
  });
});
