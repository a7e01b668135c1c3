import { afterEach, describe, expect, it } from 'vitest';
import type { MalformedFrameError } from '../../../engine/src/domain/errors.ts';
import { ConnectLimiter } from '../../../engine/src/sources/connect-limiter.ts';
import { StreamShard } from '../../../engine/src/sources/stream-shard.ts';
import type { UpstreamEvent } from '../../../engine/src/sources/upstream-event.ts';
import { type SimExchange, startSimExchange } from '../../../engine/sim/sim-exchange.ts';
import { until } from '../../helpers/until.ts';

const MAX = 4;
const [A, B, C, D, Y] = ['btcusdt', 'ethusdt', 'solusdt', 'bnbusdt', 'xrpusdt'].map((s) => `${s}@kline_1s`) as [string, string, string, string, string];

/**
 * A full connection (MAX streams) whose stream A went silent is asked for A again; before that
 * SUBSCRIBE goes out (it waits for the pacer, 333 ms at most), a stream is swapped for Y. A stream
 * found silent was taken out of the socket's requested streams though the exchange still held it:
 * its place counted as room, Y's SUBSCRIBE went out with the exchange at MAX, and the exchange
 * refused it with error 4 and closed the socket 1008 (found by a review). When A itself was the
 * stream swapped out, it was never unsubscribed at all. Now a stream asked for again stays
 * requested, and its SUBSCRIBE goes first and needs no room.
 *
 * The swap is made in the shard's own `silent` event, which it emits before it sends anything: the
 * window the pacer opens at any time, entered on every run.
 */
describe('a full shard that asks for a silent stream again while a stream is swapped', () => {
  let sim: SimExchange | undefined;
  let shard: StreamShard | undefined;
  afterEach(async () => {
    shard?.stop();
    await sim?.close();
  });

  const start = async (swap: (s: StreamShard) => void) => {
    sim = await startSimExchange({ symbols: ['BTCUSDT', 'ETHUSDT', 'SOLUSDT', 'BNBUSDT', 'XRPUSDT'], pushIntervalMs: 100, maxStreamsPerConnection: MAX });
    const events: UpstreamEvent[] = [];
    const logs: string[] = [];
    const malformed: string[] = [];
    let swapped = false;
    // Acknowledged and kept by the exchange, and nothing sent on it: found silent after 1 s plus 10 s.
    sim.faults.muteStream(A);
    shard = new StreamShard({
      index: 0,
      wsUrl: sim.wsUrl,
      staleAfterMs: 1500,
      rotateAfterMs: 3_600_000,
      limiter: new ConnectLimiter(),
      maxStreams: MAX,
      emit: (e) => {
        events.push(e);
        if (e.type !== 'silent' || swapped) return;
        swapped = true;
        swap(shard!);
      },
      onMalformed: (e: MalformedFrameError) => malformed.push(e.message),
      log: (_level, msg, fields) => logs.push(`${msg} ${JSON.stringify(fields)}`),
    });
    shard.add([A, B, C, D]);
    await until(() => sim!.subscriptions().flat().length === MAX, 10_000, 'the connection full');
    await until(() => swapped, 20_000, 'A found silent');
    return { events, logs, malformed };
  };
  const held = () => sim!.subscriptions().map((streams) => [...streams].sort());

  it('unsubscribes the silent stream swapped out before subscribing its replacement: never one too many', async () => {
    const { events, logs, malformed } = await start((s) => {
      s.remove([A]);
      s.add([Y]);
    });
    await until(() => events.some((e) => e.type === 'kline' && e.symbol === 'XRPUSDT') || events.some((e) => e.type === 'disconnected'), 10_000, 'a kline of Y (or a cut)');
    expect(logs.filter((l) => /refused|failed|closed/.test(l))).toEqual([]);
    expect(events.filter((e) => e.type === 'disconnected')).toEqual([]);
    expect(sim!.stats.limitCloses).toBe(0);
    expect(sim!.stats.wsConnectAttempts).toBe(1);
    // A is gone from the exchange too (before: never unsubscribed, left delivering to a socket that no longer asked for it).
    await until(() => held()[0]?.includes(A) === false, 5000, 'A unsubscribed at the exchange');
    expect(held()).toEqual([[B, C, D, Y].sort()]);
    expect(malformed).toEqual([]);
  }, 40_000);

  it('asks for the silent stream again with no room while another is swapped, and it delivers once heard', async () => {
    const { events, logs, malformed } = await start((s) => {
      s.remove([D]);
      s.add([Y]);
    });
    await until(() => events.some((e) => e.type === 'kline' && e.symbol === 'XRPUSDT') || events.some((e) => e.type === 'disconnected'), 10_000, 'a kline of Y (or a cut)');
    sim!.faults.muteStream(A, false);
    await until(() => events.some((e) => e.type === 'kline' && e.symbol === 'BTCUSDT') || events.some((e) => e.type === 'disconnected'), 10_000, 'a kline of A (or a cut)');
    expect(logs.filter((l) => /refused|failed|closed/.test(l))).toEqual([]);
    expect(events.filter((e) => e.type === 'disconnected')).toEqual([]);
    expect(sim!.stats.limitCloses).toBe(0);
    expect(sim!.stats.wsConnectAttempts).toBe(1);
    expect(held()).toEqual([[A, B, C, Y].sort()]);
    expect(shard!.silent).toBe(0);
    expect(malformed).toEqual([]);
  }, 40_000);
});
