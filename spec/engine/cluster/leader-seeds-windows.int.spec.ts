import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type InProcessCluster, startInProcessCluster } from '../../helpers/in-process-cluster.ts';
import type { WireCandle } from '../../helpers/ws-client.ts';
import { hasRedis } from '../../helpers/services.ts';

/**
 * A configured custom interval's history reaches the edges. It goes live once its history is resampled
 * from its source, which can be after the leader's heals (on taking the lead, and at the end of the
 * native bootstrap); its window was then never written, and an edge's clients got only the bars
 * written since the cluster started (1-2 bars of 2m where ROLE=all gives 100; with the shipped
 * derived series loaded, as here, every run before the fix). The leader now writes a series' window
 * when it goes live. In process, against the real Redis on DB 15 with a prefix of its own.
 */
const HISTORY = 100;

const redisUp = await hasRedis("the leader writes a configured custom interval's history for the edges");

describe.runIf(redisUp)("the leader writes a configured custom interval's history for the edges", () => {
  let cluster: InProcessCluster;

  beforeAll(async () => {
    cluster = await startInProcessCluster({
      name: 'seedwindows',
      common: { symbols: ['BTCUSDT'], intervals: ['1m', '2m'], seriesDir: 'series', bufferSize: 200, historyOnConnect: HISTORY },
      ingest: { simOptions: { symbols: ['BTCUSDT'], pushIntervalMs: 100, clockSpeed: 60 }, leaseTtlMs: 1500 },
    });
  }, 60_000);

  afterAll(async () => {
    await cluster?.stop();
  }, 30_000);

  it("an edge's client of the custom interval gets its whole history, equal to the exchange's", async () => {
    await cluster.edgeReady();
    const c = cluster.client('/ws/BTCUSDT?interval=2m');
    await c.until((x) => x.messages.some((m) => m.type === 'historical'), 20_000, 'historical');
    const bars = (c.messages.find((m) => m.type === 'historical') as unknown as { data: WireCandle[] }).data;
    expect(bars).toHaveLength(HISTORY);
    for (let i = 1; i < bars.length; i++) expect(bars[i]!.time - bars[i - 1]!.time).toBe(2 * 60_000);
    const closed = bars.filter((b) => b.is_closed);
    const truth = cluster.ingest.app.sim!.truth('BTCUSDT', '2m', closed[0]!.time, closed.at(-1)!.time);
    expect(closed.map((b) => [b.time, b.open, b.high, b.low, b.close, b.volume])).toEqual(truth.map((b) => [b.openTime, b.open, b.high, b.low, b.close, b.volume]));
  }, 60_000);
});
