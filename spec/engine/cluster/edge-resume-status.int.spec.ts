import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type InProcessCluster, startInProcessCluster } from '../../helpers/in-process-cluster.ts';
import { hasRedis } from '../../helpers/services.ts';
import { until } from '../../helpers/until.ts';

type First = { type: string; epoch?: string; offset?: number; series?: Record<string, unknown[]>; seriesStatus?: Record<string, { state: string; error?: string }> };
const flag = globalThis as { flakySeriesError?: string };

/**
 * The edge's side of a quant review's finding: a client resuming on an edge was not told that a
 * derived series failed while it was away (its `recovered` carried no series status, `historical`
 * does). An edge builds its first messages as ROLE=all does, from the leader's instance status: the
 * resume now carries `seriesStatus`. In process, against the real Redis on DB 15 under a prefix of
 * its own; the leader runs the fixture's operator in this process, so the spec makes it fail.
 */
const redisUp = await hasRedis('a derived series that failed while an edge client was away');

describe.runIf(redisUp)('a derived series that failed while an edge client was away', () => {
  let cluster: InProcessCluster;

  beforeAll(async () => {
    cluster = await startInProcessCluster({
      name: 'edge-resume-status',
      common: { symbols: ['BTCUSDT'], intervals: ['1m'], bufferSize: 200, historyOnConnect: 100, seriesDir: 'spec/fixtures/series-resume' },
      ingest: { simOptions: { symbols: ['BTCUSDT'], pushIntervalMs: 50, clockSpeed: 300 }, leaseTtlMs: 1500 },
    });
  }, 60_000);

  afterAll(async () => {
    delete flag.flakySeriesError;
    await cluster?.stop();
  }, 30_000);

  it("the resume's recovered message on the edge says it failed, with the leader's error", async () => {
    await cluster.edgeReady();
    const first = cluster.client('/ws/BTCUSDT?interval=1m&series=flaky');
    await first.until((c) => c.live().length > 3 && c.messages.some((m) => (m as { type: string }).type === 'series_point'), 30_000, 'historical, live candles and points');
    first.close();
    const last = first.messages.filter((m) => m.type === 'live_candle').at(-1) as First;

    flag.flakySeriesError = 'dead since t+20s';
    const app = cluster.ingest.app;
    await until(() => (app.metrics.render(), app.metrics.value('engine_series_errors_total', { series: 'flaky' })) >= 1, 20_000, 'the series failing on the leader');
    // Its status reaches the edge through the instance's log in Redis.
    await until(
      async () => {
        const list = (await (await fetch(`${cluster.edge.url}/series`)).json()) as { series: Array<{ name: string; instances: Array<{ state: string }> }> };
        return list.series.find((s) => s.name === 'flaky')?.instances.some((i) => i.state === 'failed') ?? false;
      },
      20_000,
      'the edge following the failure',
    );

    const back = cluster.client(`/ws/BTCUSDT?interval=1m&series=flaky&epoch=${last.epoch}&since=${last.offset}`);
    await back.until((c) => c.messages.length > 0, 20_000, 'the first message of the resume');
    const rec = back.messages[0] as First;
    expect(rec.type).toBe('recovered');
    expect(Object.keys(rec.series ?? {})).toEqual(['flaky']);
    expect(rec.seriesStatus).toEqual({ flaky: { state: 'failed', error: 'dead since t+20s' } });
  }, 90_000);
});
