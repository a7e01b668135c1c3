import { afterEach, describe, expect, it } from 'vitest';
import { upstreamStatus$ } from '../../../engine/src/pipeline/upstream-status.ts';
import { StreamShards } from '../../../engine/src/sources/stream-shards.ts';
import type { UpstreamEvent } from '../../../engine/src/sources/upstream-event.ts';
import { type SimExchange, startSimExchange } from '../../../engine/sim/sim-exchange.ts';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Binance pushes a kline only when it changes: a shard of illiquid pairs hears a kline at each
 * bucket's start and end, and nothing between. With a fixed stale time, the engine replaced such a
 * socket every STALE_AFTER_MS (each a reconnect and a resync) and told every client `stale`; now a
 * quiet shard is allowed its shortest interval plus a grace, and a busy one still the stale time.
 */
describe('StreamShards on an illiquid market', () => {
  let sim: SimExchange | undefined;
  let shards: StreamShards | undefined;
  const subs: Array<{ unsubscribe(): void }> = [];
  afterEach(async () => {
    for (const s of subs.splice(0)) s.unsubscribe();
    shards?.close();
    await sim?.close();
  });

  const follow = (staleAfterMs: number) => {
    const events: UpstreamEvent[] = [];
    const states: string[] = [];
    shards = new StreamShards({ wsUrl: sim!.wsUrl, staleAfterMs, rotateAfterMs: 3_600_000, backoffInitialMs: 50, backoffMaxMs: 400 });
    const s = shards;
    subs.push(s.events$.subscribe((e) => events.push(e)));
    subs.push(upstreamStatus$(s.events$, { staleAfterMs, tickMs: 100, quietMs: () => s.quietAllowanceMs() }).subscribe((st) => states.push(st.state)));
    s.add(streams);
    return { events, states };
  };
  let streams = ['btcusdt@kline_1m', 'ethusdt@kline_1m'];

  it('keeps a socket that hears a kline only at each bucket boundary, and reads it live', async () => {
    // A simulated minute every 6 s: the socket is silent about 6 s at a time, four times the stale time.
    sim = await startSimExchange({ symbols: ['BTCUSDT', 'ETHUSDT'], pushIntervalMs: 100, clockSpeed: 10, quiet: true });
    const { events, states } = follow(1500);
    await sleep(15_000);
    const klines = events.filter((e) => e.type === 'kline');
    // Two boundaries at least, each with a final and a new bar per stream.
    expect(klines.filter((e) => e.type === 'kline' && e.bar.closed).length).toBeGreaterThanOrEqual(4);
    expect(events.filter((e) => e.type === 'disconnected')).toEqual([]);
    expect(sim.stats.wsConnectAttempts).toBe(1);
    // Live from its first kline on (the first ticks may say reconnecting while it subscribes).
    const fromFirst = states.slice(states.indexOf('live'));
    // Watched for most of the 15 s (ticks of 100 ms; a loaded machine runs fewer).
    expect(fromFirst.length).toBeGreaterThan(50);
    expect(fromFirst.filter((s) => s !== 'live')).toEqual([]);
  }, 30_000);

  it('still replaces a busy socket that falls silent at the stale time, and reads it stale meanwhile', async () => {
    sim = await startSimExchange({ symbols: ['BTCUSDT', 'ETHUSDT'], pushIntervalMs: 100 });
    const { events, states } = follow(1500);
    // Busy: klines every 100 ms for twice the stale time.
    await sleep(4000);
    const pausedAt = Date.now();
    sim.faults.pauseStream();
    while (!events.some((e) => e.type === 'disconnected') && Date.now() - pausedAt < 10_000) await sleep(50);
    const replacedAfter = Date.now() - pausedAt;
    expect(replacedAfter).toBeGreaterThanOrEqual(1500);
    expect(replacedAfter).toBeLessThan(4000);
    expect(states).toContain('stale');
    // The replacement is silent too: still a freeze (stale, then replaced again), not a quiet market read live.
    // Watched for 3 s at least, and until the second replacement (a stale time after the first one's
    // socket opened: a loaded machine's dial and timers can take it past a fixed 3 s).
    const n = states.length;
    const disconnects = () => events.filter((e) => e.type === 'disconnected').length;
    for (const watched = Date.now() + 3000, deadline = Date.now() + 15_000; (Date.now() < watched || disconnects() < 2) && Date.now() < deadline; ) await sleep(50);
    expect(states.slice(n)).not.toContain('live');
    expect(disconnects()).toBeGreaterThanOrEqual(2);
    sim.faults.resumeStream();
  }, 30_000);

  it('subscribes again a stream the exchange acknowledged and went quiet on, while the socket delivers others (reproduced: its chart froze 242 s, all reading live)', async () => {
    sim = await startSimExchange({ symbols: ['BTCUSDT', 'ETHUSDT'], pushIntervalMs: 100 });
    streams = ['btcusdt@kline_1s', 'ethusdt@kline_1s'];
    try {
      sim.faults.muteStream('btcusdt@kline_1s');
      const { events } = follow(1500);
      // A 1s stream gets a kline every second: silent for 1 s plus 10 s, it is asked for again.
      const t0 = Date.now();
      while (!events.some((e) => e.type === 'silent') && Date.now() - t0 < 20_000) await new Promise((r) => setTimeout(r, 100));
      const silentAfter = Date.now() - t0;
      expect(events.filter((e) => e.type === 'silent')).toEqual([{ type: 'silent', shard: 0, streams: ['btcusdt@kline_1s'] }]);
      expect(silentAfter).toBeGreaterThanOrEqual(10_000);
      expect(silentAfter).toBeLessThan(16_000);
      // The socket went on: no reconnect, the other stream delivering all along.
      expect(events.filter((e) => e.type === 'disconnected')).toEqual([]);
      // Counted as silent until it is heard again (/health's upstream.silentStreams, a gauge).
      expect(shards!.stats().map((s) => s.silent)).toEqual([1]);
      sim.faults.muteStream('btcusdt@kline_1s', false);
      const n = events.length;
      // Heard again at the next push (waited for: a fixed 2.5 s was a guess on a loaded machine).
      for (const deadline = Date.now() + 10_000; !events.slice(n).some((e) => e.type === 'kline' && e.symbol === 'BTCUSDT') && Date.now() < deadline; ) await sleep(50);
      expect(events.slice(n).some((e) => e.type === 'kline' && e.symbol === 'BTCUSDT')).toBe(true);
      expect(shards!.stats().map((s) => s.silent)).toEqual([0]);
    } finally {
      streams = ['btcusdt@kline_1m', 'ethusdt@kline_1m'];
    }
  }, 40_000);
});
