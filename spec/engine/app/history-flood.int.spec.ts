import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Agent, request } from 'undici';
import type { App } from '../../../engine/src/app.ts';
import { startTestApp } from '../../helpers/test-app.ts';
import type { Bar } from '../../../engine/src/domain/bar.ts';
import { seriesId } from '../../../engine/src/domain/series-id.ts';
import { EngineClient } from '../../helpers/ws-client.ts';

const M = 60_000;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Client-driven history must not starve the live path. A bounded flood of `GET /candles?endTime=`
 * pages older than the store (distinct pages, from ten client addresses) runs while the upstream is
 * dropped: live delivery after the drop is measured as the ratio of live messages a watcher gets with
 * the flood to what it gets without, over the same number of simulated minutes; gap healing must be
 * whole and true either way.
 */
describe('a flood of client history against the engine on the simulator', () => {
  let app: App;
  const eth = seriesId('ETHUSDT', '1m');
  beforeAll(async () => {
    app = await startTestApp({
      source: 'sim',
      symbols: ['BTCUSDT', 'ETHUSDT'],
      intervals: ['1m'],
      bufferSize: 200,
      historyOnConnect: 50,
      staleAfterMs: 5000,
      // The gate's minute is the simulator's: 60 weight per simulated minute, one simulated minute a second.
      restWeightBudget: 60,
      clientHistoryPerMinute: 600,
      simOptions: { pushIntervalMs: 50, clockSpeed: 60 },
    });
    await app.ready;
  });
  afterAll(async () => {
    await app?.stop();
  });

  /** Drops the upstream and counts the watcher's live messages over the next `minutes` simulated minutes. */
  async function liveAfterDrop(minutes: number): Promise<number> {
    const watcher = new EngineClient(`${app.url.replace('http', 'ws')}/ws/ETHUSDT?interval=1m`);
    try {
      await watcher.until((x) => x.live().length > 0, 10_000, 'live');
      app.sim!.faults.refuseConnections(1000);
      app.sim!.faults.dropConnections();
      const from = watcher.live().length;
      const until = app.sim!.now() + minutes * M;
      while (app.sim!.now() < until) await sleep(50);
      return watcher.live().length - from;
    } finally {
      watcher.close();
    }
  }

  /** Closed bars of the store equal the simulator's truth, with no hole. */
  function expectHealed() {
    const bars = app.store.window(eth).last(1000);
    const closed = bars.filter((b) => b.closed);
    for (let i = 1; i < bars.length; i++) expect(bars[i]!.openTime - bars[i - 1]!.openTime).toBe(M);
    const truth = app.sim!.truth('ETHUSDT', '1m', closed[0]!.openTime, closed[closed.length - 1]!.openTime);
    expect(closed.map((b: Bar) => [b.openTime, b.close, b.volume])).toEqual(truth.map((b) => [b.openTime, b.close, b.volume]));
  }

  // First: after the flood, the exchange's own weight count (its minute is real time) leaves no client share.
  it('over real HTTP: identical pages asked at once reach the exchange once, and again from the cache not at all', async () => {
    const agents = Array.from({ length: 8 }, (_, i) => new Agent({ connect: { localAddress: `127.0.1.${i + 2}` } }));
    try {
      const endTime = Date.UTC(2020, 5, 1, 12, 0, 30);
      const ask = (agent: Agent, t: number) => request(`${app.url}/candles/ETHUSDT/1m?endTime=${t}&limit=300`, { dispatcher: agent }).then(async (r) => ({ status: r.statusCode, body: (await r.body.json()) as { candles: Array<{ time: number }> } }));
      // Only pages of 2020 are the clients': the engine's own gap checks ask for today's bars meanwhile.
      const pages = () => app.sim!.klinesLog().filter((k) => k.symbol === 'ETHUSDT' && k.interval === '1m' && k.endTime !== undefined && k.endTime < Date.UTC(2021, 0, 1)).length;
      const before = pages();
      // Eight clients, eight endTimes inside the same minute: one page.
      const answers = await Promise.all(agents.map((a, i) => ask(a, endTime + i * 1000)));
      expect(pages() - before).toBe(1);
      for (const a of answers) {
        expect(a.status).toBe(200);
        expect(a.body.candles).toHaveLength(300);
        expect(a.body.candles[299]!.time).toBe(Date.UTC(2020, 5, 1, 12, 0));
      }
      const again = await ask(agents[0]!, endTime);
      expect(again.body).toEqual(answers[0]!.body);
      expect(pages() - before).toBe(1);
    } finally {
      await Promise.all(agents.map((a) => a.close()));
    }
  });

  it('leaves live delivery and gap healing unaffected, and answers the excess 429/503 with Retry-After', { timeout: 90_000 }, async () => {
    const baseline = await liveAfterDrop(15);
    await sleep(500);
    expectHealed();

    // The flood: ten addresses, one request in flight each, distinct old pages, until stopped.
    const statuses = new Map<number, number>();
    let missingRetryAfter = 0;
    let stop = false;
    const restBefore = app.sim!.stats.restRequests;
    const agents = Array.from({ length: 10 }, (_, i) => new Agent({ connect: { localAddress: `127.0.0.${i + 2}` } }));
    let sent = 0;
    const worker = async (agent: Agent, seed: number) => {
      for (let k = 0; !stop; k++) {
        const endTime = Date.UTC(2021, 0, 1) + ((seed * 7919 + k * 104_729) % 500_000) * M;
        sent++;
        const res = await request(`${app.url}/candles/BTCUSDT/1m?endTime=${endTime}&limit=1000`, { dispatcher: agent });
        await res.body.dump();
        statuses.set(res.statusCode, (statuses.get(res.statusCode) ?? 0) + 1);
        if ((res.statusCode === 429 || res.statusCode === 503) && !res.headers['retry-after']) missingRetryAfter++;
        // Bounded: about 100 requests a second in all, three times what the exchange budget allows.
        await sleep(100);
      }
    };
    const flood = agents.map((agent, a) => worker(agent, a));
    let flooded: number;
    try {
      await sleep(1000);
      flooded = await liveAfterDrop(15);
      await sleep(500);
      expectHealed();
    } finally {
      stop = true;
      await Promise.all(flood);
      await Promise.all(agents.map((a) => a.close()));
    }
    const restDuring = app.sim!.stats.restRequests - restBefore;
    console.log(`live messages after a drop: ${baseline} without the flood, ${flooded} with it (ratio ${(flooded / baseline).toFixed(2)}); flood: ${sent} requests, statuses ${JSON.stringify(Object.fromEntries(statuses))}, exchange REST requests meanwhile ${restDuring}`);
    expect(baseline).toBeGreaterThan(20);
    // Before the fix the flood starved it (1 message against 280: ratio 0.00); drop-to-drop noise
    // (reconnect jitter, the flood's own CPU in this process) is about ±20% on an idle machine, and
    // more on a loaded one, where the flood's CPU is a larger part of what this process gets (0.58
    // with a CPU burner and other spec files beside it): a bound that tells starvation from noise.
    expect(flooded / baseline).toBeGreaterThan(0.3);
    // The excess was refused with a retry time, not queued; only 200, 429 and 503 were answered.
    expect([...statuses.keys()].every((s) => s === 200 || s === 429 || s === 503)).toBe(true);
    expect((statuses.get(429) ?? 0) + (statuses.get(503) ?? 0)).toBeGreaterThan(0);
    expect(missingRetryAfter).toBe(0);
    // The exchange saw far fewer calls than the flood sent.
    expect(restDuring).toBeLessThan(sent / 2);
  });

});
