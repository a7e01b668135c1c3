import { afterEach, describe, expect, it } from 'vitest';
import { StreamShards } from '../../../engine/src/sources/stream-shards.ts';
import type { UpstreamEvent } from '../../../engine/src/sources/upstream-event.ts';
import { type SimExchange, startSimExchange } from '../../../engine/sim/sim-exchange.ts';
import { until } from '../../helpers/until.ts';

const STREAMS = ['btcusdt@kline_1m', 'ethusdt@kline_1m', 'solusdt@kline_1m', 'btcusdt@kline_5m'];
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Many shards losing the exchange at once, and an exchange that refuses connections. */
describe('StreamShards through an outage of the exchange', () => {
  let sim: SimExchange | undefined;
  let shards: StreamShards | undefined;
  afterEach(async () => {
    shards?.close();
    await sim?.close();
  });

  it('dials with one shard while the exchange refuses, and every shard is back as soon as it answers', async () => {
    sim = await startSimExchange({ symbols: ['BTCUSDT', 'ETHUSDT', 'SOLUSDT'], pushIntervalMs: 100 });
    const events: UpstreamEvent[] = [];
    // Four shards of one stream each; backoff 100 ms doubling to 400 ms, each wait jittered to half.
    const logs: string[] = [];
    shards = new StreamShards({ wsUrl: sim.wsUrl, staleAfterMs: 60_000, rotateAfterMs: 3_600_000, backoffInitialMs: 100, backoffMaxMs: 400, maxStreamsPerConnection: 1, log: (_level, msg, fields) => logs.push(`${msg} ${JSON.stringify(fields)}`) });
    const sub = shards.events$.subscribe((e) => events.push(e));
    shards.add(STREAMS);
    await until(() => shards!.stats().filter((s) => s.connected).length === 4, 8000, 'four shards up');
    const before = sim.stats.wsConnectAttempts;
    sim.faults.refuseConnections(3000);
    sim.faults.dropConnections();
    await sleep(3000);
    const during = sim.stats.wsConnectAttempts - before;
    // Each shard's cut said once, with its code (reproduced: only the later "upstream connected"); the failed dials after it are not cuts.
    expect(logs.filter((l) => l.startsWith('upstream connection closed'))).toHaveLength(4);
    expect(logs.find((l) => l.startsWith('upstream connection closed'))).toContain('"code":1006');
    // One shard retrying waits at least 50, 100, then 200 ms each: at most 17 dials in 3 s. Four
    // shards each on their own backoff (at most 100, 200, then 400 ms each) make at least 4 × 8.
    expect(during).toBeGreaterThanOrEqual(3);
    expect(during).toBeLessThanOrEqual(17);
    // The exchange answers again: the scout's next try (within 400 ms) opens, and the parked follow at once.
    // Within a second here; a parked shard nobody wakes never dials again. 10 s allows a loaded
    // machine and still tells "at once" from that.
    const back = Date.now();
    await until(() => shards!.stats().filter((s) => s.connected).length === 4, 15_000, 'every shard back');
    expect(Date.now() - back).toBeLessThan(10_000);
    const resynced = events.filter((e) => e.type === 'connected' && e.resync).map((e) => (e.type === 'connected' ? e.shard : -1));
    expect(new Set(resynced).size).toBe(4);
    sub.unsubscribe();
  }, 60_000);

  it('honours the Retry-After of a refused handshake (429): no shard dials again before it', async () => {
    // Room for two new connections per 5 minutes: the third shard is refused.
    sim = await startSimExchange({ symbols: ['BTCUSDT', 'ETHUSDT', 'SOLUSDT'], pushIntervalMs: 100, maxConnectionsPer5Min: 2 });
    const logs: string[] = [];
    shards = new StreamShards({
      wsUrl: sim.wsUrl,
      staleAfterMs: 60_000,
      rotateAfterMs: 3_600_000,
      backoffInitialMs: 50,
      backoffMaxMs: 100,
      maxStreamsPerConnection: 1,
      log: (_level, msg, fields) => logs.push(`${msg} ${JSON.stringify(fields)}`),
    });
    shards.add(STREAMS.slice(0, 3));
    await until(() => sim!.stats.refusedConnections >= 1, 5000, 'a refusal');
    // Without the hold the refused shard would redial every 25-100 ms: about 30 tries in 1.5 s.
    await sleep(1500);
    expect(sim.stats.refusedConnections).toBe(1);
    expect(sim.stats.wsConnectAttempts).toBe(3);
    expect(shards.stats().filter((s) => s.connected)).toHaveLength(2);
    expect(logs.find((l) => l.startsWith('upstream refused the connection'))).toMatch(/"status":429,"waitMs":(29\d|300)\d\d\d/);
  });
});
