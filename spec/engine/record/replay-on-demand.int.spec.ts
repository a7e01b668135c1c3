import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createStore } from 'zustand/vanilla';
import { fetchOlder } from '../../../client/src/api.ts';
import { createDataLoader, OLDER_PAGE } from '../../../client/src/chart/data-loader.ts';
import { initialMarketState, type MarketState } from '../../../client/src/store/market.ts';
import { type App } from '../../../engine/src/app.ts';
import type { Bar } from '../../../engine/src/domain/bar.ts';
import { seriesId } from '../../../engine/src/domain/series-id.ts';
import { replaySettled } from '../../helpers/replay-settled.ts';
import { startTestApp } from '../../helpers/test-app.ts';
import { EngineClient } from '../../helpers/ws-client.ts';

const dir = mkdtempSync(join(tmpdir(), 'replay-on-demand-'));
const file = join(dir, 'run.jsonl.gz');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
/** Status and body, the body read whole (an unread one left undici asserting when the engine closed the connection). */
const get = async (url: string) => {
  const res = await fetch(url);
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
};
const SOL = seriesId('SOLUSDT', '1m');
const ETH5 = seriesId('ETHUSDT', '5m');
const BTC = seriesId('BTCUSDT', '1m');

// A live run on the simulator keeping BTCUSDT alone, recorded while clients opened SOLUSDT (GET /candles)
// and ETHUSDT 5m (WebSocket) on demand; then its replay.
describe('a replay serves every symbol its recording holds', () => {
  let live: Record<string, Bar[]>;
  let replay: App;

  beforeAll(async () => {
    const rec = await startTestApp({ source: 'sim', symbols: ['BTCUSDT'], intervals: ['1m', '5m'], bufferSize: 300, recordFile: file, simOptions: { symbols: ['BTCUSDT', 'ETHUSDT', 'SOLUSDT'], pushIntervalMs: 50, clockSpeed: 120 } });
    await rec.ready;
    await sleep(800);
    // Opened partway through the recording, as a trader would.
    expect((await get(`${rec.url}/candles/SOLUSDT/1m?limit=5`)).status).toBe(200);
    const client = new EngineClient(`${rec.url.replace('http', 'ws')}/ws/ETHUSDT?interval=5m`);
    await client.until((c) => c.messages.some((m) => m.type === 'historical'), 10_000, 'ETHUSDT 5m history');
    await sleep(2500);
    rec.sim!.faults.pauseStream();
    await replaySettled(rec, () => rec.sim!.stats.framesSent);
    live = Object.fromEntries([SOL, ETH5, BTC].map((id) => [id.key, rec.store.window(id).last(10_000)]));
    client.close();
    await rec.stop();

    replay = await startTestApp({ source: 'replay', replayFile: file, replaySpeed: 'max', bufferSize: 300 });
    await replay.ready;
    await replay.replay!.done;
    // Every frame sent, not yet every one taken in and its gaps filled.
    await replaySettled(replay, () => replay.replay!.stats.framesSent);
  }, 60_000);

  afterAll(async () => {
    await replay?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('lists the symbols the live run opened on demand beside its configured ones (reproduced: only the configured one was served)', async () => {
    const listing = (await get(`${replay.url}/symbols`)).body;
    expect(listing).toMatchObject({ symbols: ['BTCUSDT', 'ETHUSDT', 'SOLUSDT'], configured: ['BTCUSDT'], source: 'replay' });
  });

  it('replays their series as the live run had them, whenever a client asks (started at the point of the recording the live run started them)', async () => {
    for (const id of [SOL, ETH5]) {
      expect(live[id.key]!.length, id.key).toBeGreaterThan(10);
      // Asked after the replay ended: what the recording holds of them is served, not only what came after the ask.
      const res = await get(`${replay.url}/candles/${id.symbol}/${id.interval}?limit=1000`);
      expect(res.status, id.key).toBe(200);
      expect((res.body.candles as unknown[]).length, id.key).toBe(live[id.key]!.length);
      expect(replay.store.window(id).last(10_000), id.key).toEqual(live[id.key]);
    }
    expect(replay.store.window(BTC).last(10_000)).toEqual(live[BTC.key]);
    // Pinned by the replay from their first frame, as configured series are: not counted against
    // MAX_ON_DEMAND_SERIES, never released (replay-demand.ts).
    expect(replay.lifecycle.restLane(SOL)).toBe('live');
  });

  it('answers a history page older than the recording 404 before_recording, saying where it starts (reproduced: 200 with no candles, as if the market had none)', async () => {
    for (const id of [BTC, SOL]) {
      // Long before the recording: not "no data".
      const old = await get(`${replay.url}/candles/${id.symbol}/${id.interval}?endTime=1000&limit=10`);
      expect({ status: old.status, code: old.body.code }, id.key).toEqual({ status: 404, code: 'before_recording' });
      const first = replay.replay!.firstBar(id.symbol, id.interval)!;
      // The oldest recorded bar (its REST history reaches past what the window keeps).
      expect(first, id.key).toBeLessThanOrEqual(live[id.key]![0]!.openTime);
      const before = await get(`${replay.url}/candles/${id.symbol}/${id.interval}?endTime=${first - 1}&limit=10`);
      expect(before.status, id.key).toBe(404);
      expect(before.body, id.key).toMatchObject({ code: 'before_recording', recordedFrom: first, error: expect.stringContaining(`opens at ${new Date(first).toISOString()}`) });
      // A page reaching into the recording holds what it has, as before.
      const straddling = await get(`${replay.url}/candles/${id.symbol}/${id.interval}?endTime=${first + 2 * 60_000}&limit=10`);
      expect(straddling.status, id.key).toBe(200);
      expect((straddling.body.candles as Array<{ time: number }>).map((c) => c.time), id.key).toEqual([first, first + 60_000, first + 2 * 60_000]);
    }
    // The newest page (no endTime) is the store's, as before.
    expect((await get(`${replay.url}/candles/SOLUSDT/1m?limit=5`)).status).toBe(200);
  });

  it("the web client's chart stops scrolling back at the recording's start, with no error and no retry", async () => {
    const first = replay.replay!.firstBar('SOLUSDT', '1m')!;
    // The client's own fetch of relative URLs, against the replay engine.
    const real = globalThis.fetch;
    const asked: string[] = [];
    globalThis.fetch = ((url: string) => (asked.push(url), real(`${replay.url}${url}`))) as typeof fetch;
    try {
      expect(await fetchOlder('SOLUSDT', '1m', first - 1, OLDER_PAGE)).toEqual([]);
      const loader = createDataLoader({ store: createStore<MarketState>(initialMarketState), current: () => ({ symbol: 'SOLUSDT', interval: '1m' }), fetchOlder, olderRetryMs: 20 });
      const answers: Array<{ bars: number; more: unknown }> = [];
      await loader.getBars({ type: 'forward', timestamp: first, symbol: { ticker: 'SOLUSDT', pricePrecision: 2, volumePrecision: 2 }, period: { type: 'minute', span: 1 }, callback: (d, m) => answers.push({ bars: d.length, more: typeof m === 'object' ? m.forward : m }) });
      await sleep(100);
      // "No more" at once: a thrown page is answered "more to come" after a pause and asked again.
      expect(answers).toEqual([{ bars: 0, more: false }]);
      expect(asked).toHaveLength(2);
      loader.dispose();
    } finally {
      globalThis.fetch = real;
    }
  });

  it('still refuses a symbol the recording holds nothing of', async () => {
    expect((await get(`${replay.url}/candles/XRPUSDT/1m`)).status).toBeGreaterThanOrEqual(400);
  });
});
