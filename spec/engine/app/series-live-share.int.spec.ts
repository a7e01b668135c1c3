import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { App } from '../../../engine/src/app.ts';
import type { SimExchange } from '../../../engine/sim/sim-exchange.ts';
import { startSeriesApp } from '../../helpers/series-app.ts';
import { EngineClient } from '../../helpers/ws-client.ts';

type Status = { type: string; name?: string; state?: string; error?: string };

describe('a derived series slow on live bars only (engine on a simulator)', () => {
  let sim: SimExchange;
  let app: App;
  const logs: string[] = [];
  beforeAll(async () => {
    ({ sim, app } = await startSeriesApp('spec/fixtures/series-slow-live', logs));
  }, 60_000);
  afterAll(async () => {
    await app?.stop();
    await sim?.close();
  });

  it("is stopped once it takes past SERIES_LIVE_SHARE of the engine's time, its clients told why, while candles go on (reproduced: every update held 20 ms, for good)", async () => {
    const c = new EngineClient(`${app.url.replace('http', 'ws')}/ws/BTCUSDT?interval=1m&series=slow-live`);
    const plain = new EngineClient(`${app.url.replace('http', 'ws')}/ws/BTCUSDT?interval=1m`);
    await c.until((x) => x.historical() !== undefined, 20_000, 'historical');
    // 20 ms on each of ~20 forming updates a second: 40 % of the engine, past a quarter within ~7 s.
    const failed = (x: EngineClient) => x.messages.some((m) => (m as Status).type === 'series_status' && (m as Status).state === 'failed');
    await c.until(failed, 30_000, 'series_status failed');
    const status = c.messages.find((m) => (m as Status).type === 'series_status') as Status;
    expect(status).toMatchObject({ name: 'slow-live', state: 'failed' });
    expect(status.error).toMatch(/^its operator took \d+\.\d\d s of the engine's last 10\.00 s on live bars, the most of any series for the clients it serves \(all together \d+\.\d\d s; SERIES_LIVE_SHARE=0\.25 allows 2\.50 s\): stopped so candles and other series keep their pace$/);
    expect(logs.filter((l) => l.includes('derived series failed; restarting') && l.includes('slow-live'))).toHaveLength(1);
    // What it took is there to see before and after: past the 2.5 s it was stopped at.
    const metrics = await (await request(`${app.url}/metrics`)).body.text();
    const seconds = Number(/^engine_series_live_seconds_total\{series="slow-live"\} (\S+)$/m.exec(metrics)?.[1]);
    expect(seconds).toBeGreaterThan(2.5);
    expect(metrics).toMatch(/^engine_series_errors_total\{series="slow-live"\} [1-9]/m);
    // Candles go on, to both clients.
    const candles = (x: EngineClient) => x.messages.filter((m) => (m as Status).type === 'live_candle').length;
    const [before, plainBefore] = [candles(c), candles(plain)];
    await new Promise((r) => setTimeout(r, 1000));
    expect(candles(c) - before).toBeGreaterThan(5);
    expect(candles(plain) - plainBefore).toBeGreaterThan(5);
    c.close();
    plain.close();
  }, 60_000);
});
