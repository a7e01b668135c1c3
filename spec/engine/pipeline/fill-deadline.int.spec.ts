import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { App } from '../../../engine/src/app.ts';
import { gapsUnfilled, wholeAndTrue } from '../../helpers/failing-fill.ts';
import { startTestApp } from '../../helpers/test-app.ts';
import { EngineClient, type WireCandle } from '../../helpers/ws-client.ts';

/**
 * A gap's REST fill holds its series' live updates (they must follow the bars it splices in). An
 * exchange whose REST hangs used to hold them for minutes (an attacker-style probe of a dripping
 * exchange: 178 s without a live candle): now a fill gives up at GAP_FILL_DEADLINE_MS, the live
 * updates go on, and the hole is repaired once REST answers again.
 */
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
// One 1m bar a second: a 3 s pause of the stream is a hole of a few bars.
const simOptions = { symbols: ['BTCUSDT'], pushIntervalMs: 100, clockSpeed: 60 };
const candles = async (url: string) => ((await (await fetch(`${url}/candles/BTCUSDT/1m?limit=200`)).json()) as { candles: WireCandle[] }).candles;

describe('a fill the exchange never answers holds the live updates only until its deadline (ROLE=all)', () => {
  let app: App;
  beforeAll(async () => {
    app = await startTestApp({ source: 'sim', simOptions, symbols: ['BTCUSDT'], intervals: ['1m'], bufferSize: 300, historyOnConnect: 200, gapRepairAfterMs: 1000, gapFillDeadlineMs: 1500 });
    await app.ready;
  }, 30_000);
  afterAll(async () => {
    app?.sim?.faults.restoreRest();
    await app?.stop();
  });

  it('sends live candles again while REST still hangs, then repairs the hole once it answers', async () => {
    const sim = app.sim!;
    const client = new EngineClient(`${app.url.replace('http', 'ws')}/ws/BTCUSDT?interval=1m`);
    try {
      await client.until((c) => c.live().length >= 3, 15_000, 'live bars');
      const unfilled = await gapsUnfilled(app.url)();
      sim.faults.stallRest();
      sim.faults.pauseStream();
      await sleep(3000);
      const newestBefore = Math.max(...client.live().map((m) => m.time));
      const resumedAt = Date.now();
      sim.faults.resumeStream();
      // A bar opened after the hole reaches the client while every REST request still hangs.
      await client.until((c) => c.live().some((m) => m.time > newestBefore + 60_000), 8000, 'a live candle past the hole while REST hangs');
      const waited = Date.now() - resumedAt;
      expect(sim.stats.restRequests).toBeGreaterThan(0);
      expect(await gapsUnfilled(app.url)()).toBeGreaterThan(unfilled);
      // The deadline (1.5 s) plus a bar's wait (1 s at this clock speed) plus slack for a busy host.
      expect(waited).toBeLessThan(8000);
      sim.faults.restoreRest();
      await wholeAndTrue(sim, client, () => candles(app.url));
    } finally {
      client.close();
    }
  }, 60_000);
});
