import WebSocket from 'ws';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { App } from '../../../engine/src/app.ts';
import type { SimExchange } from '../../../engine/sim/sim-exchange.ts';
import { startSeriesApp } from '../../helpers/series-app.ts';
import { until } from '../../helpers/until.ts';

type Status = Record<string, { state: string; error?: string }>;
type Frame = { type: string; text?: string; name?: string; value?: unknown; time?: unknown; series?: Record<string, unknown[]>; seriesStatus?: Status };

/**
 * What a series module's operator emits is checked before it goes on the wire. Reproduced by an
 * attacker-style probe, each through a client asking for the series: an `async` mapper's rejected
 * Promises took the engine's process down; a point without `closed` went out as
 * `"is_closed":undefined` (not JSON); a text value went out quoted. Each now fails its series with a
 * message saying why, as a throwing operator does, and the rest keeps running.
 */
describe('derived series emitting what is not a point (engine on a simulator)', () => {
  let sim: SimExchange;
  let app: App;
  const logs: string[] = [];
  beforeAll(async () => {
    ({ sim, app } = await startSeriesApp('spec/fixtures/series-bad-points', logs));
  }, 60_000);
  afterAll(async () => {
    await app?.stop();
    await sim?.close();
  });

  it('fails each such series with its reason; every frame is JSON; the well-formed series and the engine go on', async () => {
    const frames: string[] = [];
    const ws = new WebSocket(`${app.url.replace('http', 'ws')}/ws/BTCUSDT?interval=1m&series=async-map,no-closed,text-value,many-points,fine`);
    ws.on('message', (d: Buffer) => frames.push(d.toString()));
    await new Promise<void>((resolve, reject) => ws.once('open', resolve).once('error', reject));
    // Until live bars went through every series (the simulator pushes every 50 ms) and each failed
    // one ran again after a restart and failed again; a deadline that throws, not a fixed wait.
    const bad = ['async-map', 'no-closed', 'text-value', 'many-points'];
    const finePoints = () => frames.filter((f) => f.includes('"series_point"') && f.includes('"name":"fine"')).length;
    await until(() => finePoints() > 5 && bad.every((name) => (app.metrics.render(), app.metrics.value('engine_series_errors_total', { series: name })) >= 2), 20_000, 'fine points, and each failed series restarted and failed again');
    ws.close();
    const parsed = frames.map((f): Frame => {
      try {
        return JSON.parse(f) as Frame;
      } catch {
        return { type: 'not JSON', text: f.slice(0, 120) };
      }
    });
    expect(parsed.filter((m) => m.type === 'not JSON')).toEqual([]);
    const historical = parsed.find((m) => m.type === 'historical')!;
    expect(historical.seriesStatus).toEqual({
      'async-map': { state: 'failed', error: expect.stringMatching(/Promise/) },
      'no-closed': { state: 'failed', error: expect.stringMatching(/closed must be true or false, got nothing/) },
      'text-value': { state: 'failed', error: expect.stringMatching(/value must be a number, got the string "x/) },
      'many-points': { state: 'failed', error: 'more than 64 points for one bar' },
    });
    expect(historical.series!.fine!.length).toBeGreaterThan(100);
    const points = parsed.filter((m) => m.type === 'series_point');
    expect(points.filter((p) => p.name !== 'fine')).toEqual([]);
    expect(points.length).toBeGreaterThan(5);
    for (const p of points) expect([typeof p.time, typeof p.value]).toEqual(['number', 'number']);
    const health = await request(`${app.url}/health`);
    expect(health.statusCode).toBe(200);
    await health.body.dump();
  }, 30_000);

  it('fails a series whose point times are no bar open times (seconds, a day ahead, close times); a client is told why, not sent them (reproduced: streamed silently)', async () => {
    const frames: Frame[] = [];
    const ws = new WebSocket(`${app.url.replace('http', 'ws')}/ws/BTCUSDT?interval=1m&series=seconds,day-ahead,close-time,fine`);
    ws.on('message', (d: Buffer) => frames.push(JSON.parse(d.toString()) as Frame));
    await new Promise<void>((resolve, reject) => ws.once('open', resolve).once('error', reject));
    await until(() => frames.filter((m) => m.type === 'series_point').length > 3, 20_000, 'live points of the fine series');
    ws.close();
    const historical = frames.find((m) => m.type === 'historical')!;
    expect(historical.seriesStatus).toEqual({
      seconds: { state: 'failed', error: expect.stringMatching(/^a point's time \d{10} is not a bar's open time \(seconds instead of ms\?\)$/) },
      'day-ahead': { state: 'failed', error: expect.stringMatching(/is not a bar's open time \(later than the newest bar fed/) },
      'close-time': { state: 'failed', error: expect.stringMatching(/is not a bar's open time \(a bar's close time\?/) },
    });
    expect(frames.filter((m) => m.type === 'series_point' && m.name !== 'fine')).toEqual([]);
    const r = await request(`${app.url}/series/seconds/BTCUSDT/1m?limit=5`);
    expect(r.statusCode).toBe(503);
    expect(((await r.body.json()) as { error: string }).error).toMatch(/seconds instead of ms/);
  }, 30_000);

  it('a range of a series failing on a bar is logged once, whatever time each request names (reproduced: a line per request)', async () => {
    const before = logs.length;
    const now = Date.now();
    for (let i = 0; i < 30; i++) {
      const r = await request(`${app.url}/series/boom/BTCUSDT/1m?endTime=${now - i * 60_000}&limit=5`);
      expect(r.statusCode).toBe(503);
      await r.body.dump();
    }
    expect(logs.length - before).toBeLessThanOrEqual(1);
  });
});
