import { lastValueFrom, of, toArray } from 'rxjs';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { App } from '../../../engine/src/app.ts';
import type { SimExchange } from '../../../engine/sim/sim-exchange.ts';
import emaCross from '../../../series/ema-cross.ts';
import { startSeriesApp } from '../../helpers/series-app.ts';
import { EngineClient } from '../../helpers/ws-client.ts';

const M = 60_000;
type Point = { time: number; values?: Record<string, number>; value?: number; is_closed: boolean };
const get = async (url: string) => {
  const r = await request(url);
  return { status: r.statusCode, headers: r.headers, body: (await r.body.json()) as { error?: string; points?: Point[]; series?: Array<{ name: string; instances: Array<{ name: string; state: string; error?: string }> }> } };
};

describe('derived series contained: parameters, failures, logs, ranges over history (engine on a simulator)', () => {
  let sim: SimExchange;
  let app: App;
  const logs: string[] = [];
  beforeAll(async () => {
    // One address floods the HTTP route below on purpose: what it keeps is tested, not its ration.
    ({ sim, app } = await startSeriesApp('spec/fixtures/series-faulty', logs, { httpRequestsPerSecond: 0 }));
  }, 60_000);
  afterAll(async () => {
    await app?.stop();
    await sim?.close();
  });

  it('refuses undeclared, mistyped and out-of-range parameters with 400 naming the parameter, never null values (reproduced: accepted)', async () => {
    const cases: Array<[string, RegExp]> = [
      ['constructor=1', /unknown parameter 'constructor'/],
      ['toString=1', /unknown parameter 'toString'/],
      ['fast=0.5', /parameter 'fast' must be an integer, got 0.5/],
      ['fast=-1', /parameter 'fast' must be >= 1, got -1/],
      ['slow=0', /parameter 'slow' must be >= 2, got 0/],
    ];
    for (const [q, error] of cases) {
      const r = await get(`${app.url}/series/ema-cross/BTCUSDT/1m?${q}`);
      expect([q, r.status]).toEqual([q, 400]);
      expect(r.body.error).toMatch(error);
    }
    const c = new EngineClient(`${app.url.replace('http', 'ws')}/ws/BTCUSDT?interval=1m&series=ema-cross:fast=0.5`);
    await c.until((x) => x.closeCode !== undefined, 5000, 'close');
    expect(c.closeCode).toBe(4000);
    expect((c.messages[0] as { message: string }).message).toMatch(/'fast' must be an integer/);
  });

  it('serves a scrolled-back range from stored and fetched candles, equal to a long continuous run and aligned to GET /candles', async () => {
    const newest = app.store.window({ symbol: 'BTCUSDT', interval: '1m', key: 'BTCUSDT:1m' } as never).newestClosed()!.openTime;
    // Well before the store's 300 bars: every candle and its warm-up come from the exchange.
    const endTime = newest - 1000 * M;
    const r = await get(`${app.url}/series/ema-cross/BTCUSDT/1m?endTime=${endTime}&limit=200`);
    expect(r.status).toBe(200);
    const candles = (await (await request(`${app.url}/candles/BTCUSDT/1m?endTime=${endTime}&limit=200`)).body.json()) as { candles: Array<{ time: number }> };
    expect(r.body.points!.map((p) => p.time)).toEqual(candles.candles.map((c) => c.time));
    // The batch: the operator over 3,000 bars of the exchange's history before the range.
    const from = r.body.points![0]!.time;
    const truth = sim.truth('BTCUSDT', '1m', from - 3000 * M, endTime);
    const batch = await lastValueFrom(of(...truth).pipe(emaCross.operator(emaCross.params), toArray()));
    const byTime = new Map(batch.map((p) => [p.time, p.values!]));
    for (const p of r.body.points!) {
      expect(p.values!.fast).toBeCloseTo(byTime.get(p.time)!.fast, 8);
      expect(p.values!.slow).toBeCloseTo(byTime.get(p.time)!.slow, 8);
    }
  });

  it('gives identical closed values for the same times when asked at two moments (reproduced: different early values)', async () => {
    const first = await get(`${app.url}/series/ema-cross/BTCUSDT/1m?limit=300`);
    // The simulator runs 5 minutes a second: the window moves on by some 10 bars.
    await new Promise((r) => setTimeout(r, 2000));
    const second = await get(`${app.url}/series/ema-cross/BTCUSDT/1m?limit=300`);
    const a = new Map(first.body.points!.filter((p) => p.is_closed).map((p) => [p.time, p.values]));
    const common = second.body.points!.filter((p) => p.is_closed && a.has(p.time));
    expect(common.length).toBeGreaterThan(200);
    expect(common.length).toBeLessThan(300);
    for (const p of common) expect(p.values).toEqual(a.get(p.time));
  });

  it('a series that fails answers 503 with its error, says so in /series and historical, and is logged once with a count (reproduced: 200 with old points, a stack per request)', async () => {
    const c = new EngineClient(`${app.url.replace('http', 'ws')}/ws/BTCUSDT?interval=1m&series=boom,ema-cross`);
    await c.until((x) => x.historical() !== undefined, 20_000, 'historical');
    const h = c.historical() as unknown as { series: Record<string, Point[]>; seriesStatus?: Record<string, { state: string; error: string }> };
    expect(h.seriesStatus).toEqual({ boom: { state: 'failed', error: expect.stringMatching(/^boom at \d+$/) } });
    expect(h.series.boom).toEqual([]);
    expect(h.series['ema-cross']!.length).toBeGreaterThan(100);
    const before = logs.length;
    for (let i = 0; i < 50; i++) {
      const r = await get(`${app.url}/series/boom/BTCUSDT/1m`);
      expect(r.status).toBe(503);
      expect(r.body.error).toMatch(/^boom at \d+$/);
    }
    expect(logs.length - before).toBeLessThanOrEqual(1);
    const list = await get(`${app.url}/series`);
    expect(list.body.series!.find((s) => s.name === 'boom')!.instances).toEqual([expect.objectContaining({ name: 'boom', state: 'failed', error: expect.stringMatching(/^boom at/) })]);
    c.close();
  });

  it('a flood of distinct parameter sets over HTTP keeps no instance, and refuses nobody (reproduced: 4,000 kept forever, then all refused)', async () => {
    const before = app.registry.instanceCount;
    const statuses = new Map<number, number>();
    for (let i = 0; i < 100; i++) {
      const r = await request(`${app.url}/series/ema-cross/BTCUSDT/1m?fast=${1 + (i % 19)}&slow=${20 + i}&limit=5`);
      await r.body.dump();
      statuses.set(r.statusCode, (statuses.get(r.statusCode) ?? 0) + 1);
    }
    expect(Object.fromEntries(statuses)).toEqual({ 200: 100 });
    expect(app.registry.instanceCount).toBe(before);
    const r = await get(`${app.url}/series/ema-cross/BTCUSDT/1m?fast=3&slow=7&limit=5`);
    expect(r.status).toBe(200);
    expect(r.body.points).toHaveLength(5);
  });
});
