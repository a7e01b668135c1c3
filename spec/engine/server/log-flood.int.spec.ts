import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { App } from '../../../engine/src/app.ts';
import type { Logger } from '../../../engine/src/log.ts';
import { startTestApp } from '../../helpers/test-app.ts';

/**
 * What one failure per request makes the engine log: clients from many addresses (a trusted proxy on
 * loopback names each) ask for pages older than the store while the simulated exchange answers every
 * REST call with HTTP 500. Each gets its 502; the log gets one line, not one per request.
 */
describe('GET /candles against a failing exchange, from many addresses', () => {
  const lines: string[] = [];
  const log: Logger = {
    debug() {},
    info() {},
    warn: (msg) => void lines.push(msg),
    error: (msg) => void lines.push(msg),
    child: () => log,
  };
  let app: App;

  beforeAll(async () => {
    app = await startTestApp({
      source: 'sim',
      simOptions: { symbols: ['BTCUSDT'], pushIntervalMs: 100, clockSpeed: 60 },
      symbols: ['BTCUSDT'],
      intervals: ['1m'],
      bufferSize: 100,
      historyOnConnect: 50,
      seriesDir: '',
      trustProxy: ['127.0.0.1'],
      log,
    });
    await app.ready;
  }, 30_000);
  afterAll(async () => {
    await app?.stop();
  });

  it('answers each 502 and logs the failure once (reproduced: one warning per request)', async () => {
    lines.length = 0;
    app.sim!.faults.failRest({ status: 500, requests: 10_000 });
    const statuses: number[] = [];
    for (let i = 0; i < 60; i++) {
      // A page of its own per request (nothing cached or coalesced), each from another address (no 429).
      const res = await request(`${app.url}/candles/BTCUSDT/1m?limit=10&endTime=${1_600_000_000_000 + i * 3_600_000}`, { headers: { 'x-forwarded-for': `198.51.100.${i + 1}` } });
      statuses.push(res.statusCode);
      const body = (await res.body.json()) as { error: string };
      expect(body.error).toMatch(/could not load candles: .*HTTP 500/);
    }
    expect(statuses).toEqual(Array(60).fill(502));
    expect(lines.filter((l) => l.startsWith('candles request failed'))).toEqual(['candles request failed']);
  }, 30_000);

  it('says that the exchange sent malformed frames, once per kind per 10 s, however many (reproduced: 43,500 skipped, nothing above debug)', async () => {
    lines.length = 0;
    const before = app.metrics.value('engine_upstream_malformed_frames_total');
    app.sim!.faults.sendMalformed(500);
    for (let i = 0; i < 50 && app.metrics.value('engine_upstream_malformed_frames_total') < before + 500; i++) await new Promise((r) => setTimeout(r, 100));
    expect(app.metrics.value('engine_upstream_malformed_frames_total')).toBeGreaterThanOrEqual(before + 500);
    const said = lines.filter((l) => l.startsWith('malformed upstream frames skipped'));
    expect(said.length).toBeGreaterThanOrEqual(1);
    // One per kind of fault the simulator sends (not JSON, not an object, no kline fields…).
    expect(said.length).toBeLessThanOrEqual(10);
  }, 30_000);
});
