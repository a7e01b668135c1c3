import { describe, expect, it } from 'vitest';
import { encodeBar } from '../../../engine/src/cluster/bar-codec.ts';
import { encodeAsk, encodeReply, parseAsk, parseReply } from '../../../engine/src/cluster/history-ask.ts';
import type { Bar } from '../../../engine/src/domain/bar.ts';
import { seriesId } from '../../../engine/src/domain/series-id.ts';

const ask = { id: 'abc_-1', node: 'edge-1.local', series: seriesId('BTCUSDT', '1m'), endTime: 1_700_000_000_000, limit: 500, address: '10.0.0.1' };
const bar: Bar = { openTime: 60_000, open: 1, high: 2, low: 0.5, close: 1.5, volume: 10, closed: true };

describe('history asks and replies between an edge and the leader', () => {
  it('an ask and a reply read back as written', () => {
    expect(parseAsk(encodeAsk(ask))).toEqual(ask);
    const bars = { id: 'x', bars: [bar, { ...bar, openTime: 120_000, closed: false }] };
    expect(parseReply(encodeReply(bars))).toEqual(bars);
    const refused = { id: 'x', error: { reason: 'rate' as const, message: 'too many', retryAfterSec: 3 } };
    expect(parseReply(encodeReply(refused))).toEqual(refused);
  });

  it('anything else on the channel is malformed: never a channel name, a key or an exchange request', () => {
    const raw = JSON.parse(encodeAsk(ask)) as Record<string, unknown>;
    const bad: unknown[] = [
      'not json',
      '[]',
      'null',
      { ...raw, node: 'edge 1' }, // would name another channel
      { ...raw, node: 'x'.repeat(65) },
      { ...raw, node: 'edge-1\ncluster:lease' },
      { ...raw, id: 'a/b' },
      { ...raw, id: '' },
      { ...raw, symbol: 'BTC*' },
      { ...raw, symbol: 'btcusdt:1m|x' },
      { ...raw, interval: '7x' },
      { ...raw, limit: 0 },
      { ...raw, limit: 1001 },
      { ...raw, limit: 2.5 },
      { ...raw, endTime: 'now' },
      { ...raw, endTime: 1e300 },
      { ...raw, address: 'a'.repeat(101) },
      { ...raw, address: 7 },
    ];
    for (const b of bad) expect(parseAsk(typeof b === 'string' ? b : JSON.stringify(b)), JSON.stringify(b)).toBeUndefined();
    expect(parseAsk(JSON.stringify({ ...raw, pad: 'x'.repeat(2000) }))).toBeUndefined();
  });

  it('a reply with one bar that does not decode is malformed as a whole (never fewer bars); refusals are bounded', () => {
    expect(parseReply(JSON.stringify({ id: 'x', bars: [encodeBar(bar), 'garbage'] }))).toBeUndefined();
    expect(parseReply(JSON.stringify({ id: 'x', bars: [encodeBar(bar)] }))).toEqual({ id: 'x', bars: [bar] });
    expect(parseReply(JSON.stringify({ id: 'x', bars: [7] }))).toBeUndefined();
    expect(parseReply(JSON.stringify({ id: 'x', error: { reason: 'other', message: 'm' } }))).toBeUndefined();
    expect(parseReply(JSON.stringify({ bars: [] }))).toBeUndefined();
    const long = parseReply(JSON.stringify({ id: 'x', error: { reason: 'failed', message: 'm'.repeat(10_000), retryAfterSec: 1e9 } }));
    expect(long).toEqual({ id: 'x', error: { reason: 'failed', message: 'm'.repeat(500) } });
  });
});
