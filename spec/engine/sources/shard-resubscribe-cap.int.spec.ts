import { describe, expect, it } from 'vitest';
import type { StreamShard } from '../../../engine/src/sources/stream-shard.ts';
import { A, B, C, D, MAX, useShardRig, Y } from '../../helpers/shard-rig.ts';
import { until } from '../../helpers/until.ts';

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
  const rig = useShardRig();

  const start = async (swap: (s: StreamShard) => void) => {
    let swapped = false;
    const r = await rig.start({
      initial: [A, B, C, D],
      // Acknowledged and kept by the exchange, and nothing sent on it: found silent after 1 s plus 10 s.
      before: (sim) => sim.faults.muteStream(A),
      onEvent: (e, s) => {
        if (e.type !== 'silent' || swapped) return;
        swapped = true;
        swap(s);
      },
    });
    await until(() => rig.sim.subscriptions().flat().length === MAX, 10_000, 'the connection full');
    await until(() => swapped, 20_000, 'A found silent');
    return r;
  };

  it('unsubscribes the silent stream swapped out before subscribing its replacement: never one too many', async () => {
    const { events, logs, malformed } = await start((s) => {
      s.remove([A]);
      s.add([Y]);
    });
    await until(() => events.some((e) => e.type === 'kline' && e.symbol === 'XRPUSDT') || events.some((e) => e.type === 'disconnected'), 10_000, 'a kline of Y (or a cut)');
    rig.expectNeverOverCap({ events, logs }, /refused|failed|closed/, 1);
    // A is gone from the exchange too (before: never unsubscribed, left delivering to a socket that no longer asked for it).
    await until(() => rig.held()[0]?.includes(A) === false, 5000, 'A unsubscribed at the exchange');
    expect(rig.held()).toEqual([[B, C, D, Y].sort()]);
    expect(malformed).toEqual([]);
  }, 40_000);

  it('asks for the silent stream again with no room while another is swapped, and it delivers once heard', async () => {
    const { events, logs, malformed } = await start((s) => {
      s.remove([D]);
      s.add([Y]);
    });
    await until(() => events.some((e) => e.type === 'kline' && e.symbol === 'XRPUSDT') || events.some((e) => e.type === 'disconnected'), 10_000, 'a kline of Y (or a cut)');
    rig.sim.faults.muteStream(A, false);
    await until(() => events.some((e) => e.type === 'kline' && e.symbol === 'BTCUSDT') || events.some((e) => e.type === 'disconnected'), 10_000, 'a kline of A (or a cut)');
    rig.expectNeverOverCap({ events, logs }, /refused|failed|closed/, 1);
    expect(rig.held()).toEqual([[A, B, C, Y].sort()]);
    expect(rig.shard.silent).toBe(0);
    expect(malformed).toEqual([]);
  }, 40_000);
});
