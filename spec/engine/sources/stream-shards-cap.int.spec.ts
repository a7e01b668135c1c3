import { afterEach, describe, expect, it } from 'vitest';
import { StreamShards } from '../../../engine/src/sources/stream-shards.ts';
import type { UpstreamEvent } from '../../../engine/src/sources/upstream-event.ts';
import { type SimExchange, startSimExchange } from '../../../engine/sim/sim-exchange.ts';

const until = async (pred: () => boolean, ms = 8000, what = 'condition') => {
  const end = Date.now() + ms;
  while (!pred()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
};

/** Streams swapped on a full connection, as on-demand series come and go at the exchange's cap. */
describe('StreamShards at the exchange cap of streams per connection', () => {
  let sim: SimExchange | undefined;
  let shards: StreamShards | undefined;
  afterEach(async () => {
    shards?.close();
    await sim?.close();
  });

  it('swaps streams on a full connection without passing the cap (no close 1008, no reconnect)', async () => {
    sim = await startSimExchange({ symbols: ['BTCUSDT', 'ETHUSDT', 'SOLUSDT'], pushIntervalMs: 40, maxStreamsPerConnection: 4 });
    const events: UpstreamEvent[] = [];
    // One control message every 2 s: the swap below finds the pacer empty, so both its messages wait
    // and the order they go in is the shard's choice (with a token at hand, the UNSUBSCRIBE went alone).
    shards = new StreamShards({ wsUrl: sim.wsUrl, staleAfterMs: 60_000, rotateAfterMs: 3_600_000, backoffInitialMs: 50, backoffMaxMs: 200, maxStreamsPerConnection: 4, sendsPerSecond: 0.5 });
    const sub = shards.events$.subscribe((e) => events.push(e));
    const seen = (stream: string) => events.some((e) => e.type === 'kline' && `${e.symbol.toLowerCase()}@kline_${e.interval}` === stream);
    shards.add(['btcusdt@kline_1m', 'ethusdt@kline_1m', 'solusdt@kline_1m', 'btcusdt@kline_5m']);
    await until(() => ['btcusdt@kline_1m', 'ethusdt@kline_1m', 'solusdt@kline_1m', 'btcusdt@kline_5m'].every(seen), 8000, 'the first four streams');
    // Two released and two others asked for in the same turn: the connection stays at 4.
    shards.remove(['ethusdt@kline_1m', 'solusdt@kline_1m']);
    shards.add(['ethusdt@kline_5m', 'solusdt@kline_5m']);
    const from = events.length;
    await until(() => events.slice(from).some((e) => e.type === 'kline' && e.interval === '5m' && e.symbol === 'SOLUSDT'), 15_000, 'a swapped-in stream');
    await until(() => events.slice(from).some((e) => e.type === 'kline' && e.interval === '5m' && e.symbol === 'ETHUSDT'), 15_000, 'the other swapped-in stream');
    await new Promise((r) => setTimeout(r, 300));
    expect(sim.stats.limitCloses).toBe(0);
    expect(events.filter((e) => e.type === 'disconnected')).toEqual([]);
    expect(shards.stats()).toEqual([{ shard: 0, streams: 4, connected: true }]);
    // The swapped-out streams stopped on the socket.
    const late = events.length;
    await new Promise((r) => setTimeout(r, 300));
    expect(events.slice(late).some((e) => e.type === 'kline' && e.interval === '1m' && e.symbol !== 'BTCUSDT')).toBe(false);
    sub.unsubscribe();
  });
});
