import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { App } from '../../../engine/src/app.ts';
import type { SimExchange } from '../../../engine/sim/sim-exchange.ts';
import { startSeriesApp } from '../../helpers/series-app.ts';
import { until } from '../../helpers/until.ts';
import { EngineClient } from '../../helpers/ws-client.ts';

type First = { type: string; epoch?: string; offset?: number; series?: Record<string, unknown[]>; seriesStatus?: Record<string, { state: string; error?: string }> };
const flag = globalThis as { flakySeriesError?: string };

/**
 * A resumed client was never told that a series failed while it was away (a quant review): its
 * `recovered` first message carried no series status (`historical` does), and the failure's
 * `series_status` had gone out while it was away (a repeat of the same error is not sent again). A
 * resume now carries the failed series' `seriesStatus`, as `historical` does.
 */
describe('a derived series that failed while its client was away (engine on a simulator, real sockets)', () => {
  let sim: SimExchange;
  let app: App;
  const logs: string[] = [];
  beforeAll(async () => {
    ({ sim, app } = await startSeriesApp('spec/fixtures/series-resume', logs));
  }, 60_000);
  afterAll(async () => {
    delete flag.flakySeriesError;
    await app?.stop();
    await sim?.close();
  });

  it("the resume's recovered message says it failed, with its error", async () => {
    const ws = `${app.url.replace('http', 'ws')}/ws/BTCUSDT?interval=1m&series=flaky`;
    const first = new EngineClient(ws);
    await first.until((c) => c.live().length > 3, 20_000, 'historical and live candles');
    first.close();
    const h = first.messages.find((m) => m.type === 'historical') as First;
    expect(h.seriesStatus).toBeUndefined();
    const last = first.messages.filter((m) => m.type === 'live_candle').at(-1) as First;

    flag.flakySeriesError = 'dead since t+20s';
    // The instance stays (idle a minute) and is fed closed bars: it fails on the next one.
    await until(() => (app.metrics.render(), app.metrics.value('engine_series_errors_total', { series: 'flaky' })) >= 1, 20_000, 'the series failing');

    const back = new EngineClient(`${ws}&epoch=${last.epoch}&since=${last.offset}`);
    try {
      await back.until((c) => c.messages.length > 0, 20_000, 'the first message of the resume');
      const rec = back.messages[0] as First;
      expect(rec.type).toBe('recovered');
      expect(Object.keys(rec.series ?? {})).toEqual(['flaky']);
      expect(rec.seriesStatus).toEqual({ flaky: { state: 'failed', error: 'dead since t+20s' } });
    } finally {
      back.close();
    }
  }, 60_000);
});
