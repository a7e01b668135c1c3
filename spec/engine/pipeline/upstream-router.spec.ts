import { Subject } from 'rxjs';
import { describe, expect, it } from 'vitest';
import type { Bar } from '../../../engine/src/domain/bar.ts';
import type { SeriesInput } from '../../../engine/src/operators/splice-gaps.ts';
import { streamKey, UpstreamRouter } from '../../../engine/src/pipeline/upstream-router.ts';
import type { UpstreamEvent } from '../../../engine/src/sources/upstream-event.ts';

const bar = (openTime: number, close = 1): Bar => ({ openTime, open: 1, high: 2, low: 0.5, close, volume: 1, closed: false });
const kline = (symbol: string, interval: string, b: Bar): UpstreamEvent => ({ type: 'kline', symbol, interval, bar: b, receivedAt: 0, eventTime: 0 });

describe('UpstreamRouter', () => {
  it('keeps the bars of a series being loaded (newest per open time) and replays them in order when it is attached', () => {
    const r = new UpstreamRouter(3);
    r.expect('BTCUSDT:1m');
    for (const t of [3, 1, 2, 2, 4]) r.route(kline('BTCUSDT', '1m', bar(t * 60_000, t)));
    const got: SeriesInput[] = [];
    const input = new Subject<SeriesInput>();
    const sub = input.subscribe((x) => got.push(x));
    r.attach('BTCUSDT:1m', input);
    // Bounded at 3: the oldest (1) went.
    expect(got.map((x) => (x.type === 'bar' ? x.bar.openTime / 60_000 : -1))).toEqual([2, 3, 4]);
    r.route(kline('BTCUSDT', '1m', bar(5 * 60_000)));
    expect(got).toHaveLength(4);
    sub.unsubscribe();
  });

  it('drops bars of series nobody expects, and stops routing a detached one', () => {
    const r = new UpstreamRouter(10);
    const got: SeriesInput[] = [];
    const input = new Subject<SeriesInput>();
    const sub = input.subscribe((x) => got.push(x));
    r.route(kline('ETHUSDT', '1m', bar(0)));
    r.attach('ETHUSDT:1m', input);
    expect(got).toEqual([]);
    r.route(kline('ETHUSDT', '1m', bar(60_000)));
    r.detach('ETHUSDT:1m');
    r.route(kline('ETHUSDT', '1m', bar(120_000)));
    expect(got).toHaveLength(1);
    expect(r.attached).toBe(0);
    sub.unsubscribe();
  });

  it("sends a resync into the series of the shard that reconnected, not into the others", () => {
    const r = new UpstreamRouter(10);
    const seen = new Map<string, string[]>();
    const subs = ['BTCUSDT:1m', 'ETHUSDT:5m'].map((k) => {
      const s = new Subject<SeriesInput>();
      r.attach(k, s);
      seen.set(k, []);
      return s.subscribe((x) => seen.get(k)!.push(x.type));
    });
    r.route({ type: 'connected', shard: 0, streams: ['btcusdt@kline_1m'], resync: false });
    r.route({ type: 'connected', shard: 0, streams: ['btcusdt@kline_1m'], resync: true });
    expect(seen.get('BTCUSDT:1m')).toEqual(['resync']);
    expect(seen.get('ETHUSDT:5m')).toEqual([]);
    // A stream the exchange went quiet on, subscribed again: its series re-synced, the others not.
    r.route({ type: 'silent', shard: 0, streams: ['ethusdt@kline_5m'] });
    expect(seen.get('BTCUSDT:1m')).toEqual(['resync']);
    expect(seen.get('ETHUSDT:5m')).toEqual(['resync']);
    for (const s of subs) s.unsubscribe();
  });

  it('maps stream names to series keys', () => {
    expect(streamKey('btcusdt@kline_1m')).toBe('BTCUSDT:1m');
    expect(streamKey('1000satsusdt@kline_1M')).toBe('1000SATSUSDT:1M');
    expect(streamKey('btcusdt@trade')).toBeUndefined();
  });
});
