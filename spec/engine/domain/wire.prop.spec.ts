import { fc, test } from '@fast-check/vitest';
import { describe, expect } from 'vitest';
import { liveCandleMessage } from '../../../engine/src/domain/wire.ts';

const arbBar = fc.record({
  openTime: fc.nat(),
  open: fc.double({ noNaN: true, noDefaultInfinity: true }),
  high: fc.double({ noNaN: true, noDefaultInfinity: true }),
  low: fc.double({ noNaN: true, noDefaultInfinity: true }),
  close: fc.double({ noNaN: true, noDefaultInfinity: true }),
  volume: fc.double({ noNaN: true, noDefaultInfinity: true, min: 0 }),
  closed: fc.boolean(),
});
// Epochs are URL-safe ids, but whatever string one holds must come out as the same string.
const arbEpoch = fc.oneof(fc.base64String(), fc.string(), fc.string({ unit: 'binary' }), fc.constantFrom('', 'a"b', 'a\\b', '\n', 'é', '\u2028'));

describe('live_candle message (property)', () => {
  test.prop([arbBar, arbEpoch, fc.nat(), fc.nat()])('parses back to the bar, the position and the send time it was built from', (bar, epoch, offset, at) => {
    const msg = JSON.parse(liveCandleMessage('BTCUSDT', '1m', bar, { epoch, offset }, at));
    expect(msg).toEqual({
      type: 'live_candle',
      symbol: 'BTCUSDT',
      interval: '1m',
      time: bar.openTime,
      // JSON has one zero: -0 comes back as 0.
      open: bar.open || 0,
      high: bar.high || 0,
      low: bar.low || 0,
      close: bar.close || 0,
      volume: bar.volume || 0,
      is_closed: bar.closed,
      epoch,
      offset,
      at,
    });
  });
});
