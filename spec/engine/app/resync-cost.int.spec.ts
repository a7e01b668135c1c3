import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { App } from '../../../engine/src/app.ts';
import { intervalMs } from '../../../engine/src/domain/interval.ts';
import { seriesId } from '../../../engine/src/domain/series-id.ts';
import { startTestApp } from '../../helpers/test-app.ts';

/**
 * A reconnect fetched every series its connection carried from REST, though a series whose bar still
 * forms lost nothing (its next update holds the whole bar): 1,200 requests for 300 symbols × 4
 * intervals at each mid-minute drop, 9,000 for the whole exchange (a minute and a half of Binance's
 * weight budget). Only series a bucket closed for while the connection was down are fetched now.
 * The simulator at real speed: a second's bars close during the outage, an hour's do not.
 */
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const SYMBOLS = ['BTCUSDT', 'ETHUSDT'];

describe('a reconnect fetches only the series a bucket closed for meanwhile', () => {
  let app: App;
  beforeAll(async () => {
    app = await startTestApp({ source: 'sim', simOptions: { symbols: SYMBOLS, pushIntervalMs: 250 }, symbols: SYMBOLS, intervals: ['1s', '1h'], bufferSize: 300, seriesDir: '' });
    await app.ready;
  }, 60_000);
  afterAll(async () => {
    await app?.stop();
  });

  it('a 1s series is fetched and whole after the drop; a 1h series whose bar forms costs no request', async () => {
    const sim = app.sim!;
    // Not within a few seconds of an hour's end (the 1h bar would close during the outage).
    while (new Date(sim.now()).getUTCMinutes() === 59 && new Date(sim.now()).getUTCSeconds() > 40) await sleep(1000);
    await sleep(1500);
    const before = Object.fromEntries(SYMBOLS.flatMap((s) => ['1s', '1h'].map((i) => [`${s}:${i}`, sim.klinesRequests(s, i)])));
    const frames = () => app.metrics.value('engine_upstream_frames_total');
    sim.faults.refuseConnections(2500);
    sim.faults.dropConnections();
    await sleep(2500);
    const back = frames();
    for (const deadline = Date.now() + 15_000; frames() < back + 20; await sleep(100)) if (Date.now() > deadline) throw new Error('no frames after the outage');
    await sleep(2000); // a few more seconds close live
    for (const s of SYMBOLS) {
      expect(sim.klinesRequests(s, '1h'), `${s} 1h`).toBe(before[`${s}:1h`]);
      expect(sim.klinesRequests(s, '1s'), `${s} 1s`).toBeGreaterThan(before[`${s}:1s`]!);
      // Every closed second equals the exchange's, with no hole.
      const bars = app.store.window(seriesId(s, '1s')).last(1_000_000);
      const closed = bars.filter((b) => b.closed);
      for (let i = 1; i < bars.length; i++) expect(bars[i]!.openTime - bars[i - 1]!.openTime).toBe(intervalMs('1s'));
      const truth = sim.truth(s, '1s', closed[0]!.openTime, closed.at(-1)!.openTime);
      expect(closed.length).toBeGreaterThan(200);
      expect(JSON.stringify(closed)).toBe(JSON.stringify(truth));
    }
  }, 60_000);
});
