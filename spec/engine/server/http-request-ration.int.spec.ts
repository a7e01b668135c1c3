import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { App } from '../../../engine/src/app.ts';
import { BYTES_PER_REQUEST } from '../../../engine/src/server/request-ration.ts';
import { startTestApp } from '../../helpers/test-app.ts';

/**
 * An attacker's view of the JSON API: one address asking as fast as it can. The ration answers 429
 * before the route works; probes and scrapes still answer; another address is not held back.
 */
describe('per-address ration of the JSON API, against the simulated exchange', () => {
  let app: App;

  beforeAll(async () => {
    app = await startTestApp({
      source: 'sim',
      symbols: ['BTCUSDT'],
      intervals: ['1m'],
      bufferSize: 100,
      seriesDir: '',
      // 4 a second after a burst of 20 (the least burst).
      httpRequestsPerSecond: 4,
      trustProxy: ['127.0.0.1'],
      simOptions: { pushIntervalMs: 100, clockSpeed: 60, universeSize: 10 },
    });
    await app.ready;
  });
  afterAll(async () => {
    await app?.stop();
  });

  const get = async (path: string, from: string, method: 'GET' | 'HEAD' = 'GET') => {
    const res = await request(`${app.url}${path}`, { method, headers: { 'x-forwarded-for': from } });
    const text = await res.body.text();
    return { status: res.statusCode, retryAfter: res.headers['retry-after'], body: text.startsWith('{') ? (JSON.parse(text) as { error?: string; code?: string }) : undefined };
  };

  it('answers 429 rate_limited with Retry-After once an address spends its burst (reproduced: every request served), GET and HEAD alike', async () => {
    const path = '/candles/BTCUSDT/1m?limit=1000';
    const answers = [];
    for (let i = 0; i < 30; i++) answers.push(await get(path, '198.51.100.1', i % 2 ? 'HEAD' : 'GET'));
    const served = answers.filter((a) => a.status === 200).length;
    const refused = answers.filter((a) => a.status === 429);
    // The burst of 20, and at most what refilled meanwhile (4 a second).
    expect(served).toBeGreaterThanOrEqual(20);
    expect(served).toBeLessThan(26);
    expect(refused.length).toBe(30 - served);
    const body = refused.find((a) => a.body)?.body;
    expect(body?.code).toBe('rate_limited');
    expect(body?.error).toMatch(/HTTP_REQUESTS_PER_SECOND/);
    expect(Number(refused[0]!.retryAfter)).toBeGreaterThanOrEqual(1);
    expect(app.metrics.render()).toMatch(new RegExp(`engine_http_rate_limited_total ${refused.length}\\b`));
  });

  it('still answers probes and scrapes from that address, and another address at once', async () => {
    for (let i = 0; i < 5; i++) expect((await get('/symbols', '198.51.100.2')).status).toBe(200);
    const flood = [];
    for (let i = 0; i < 40; i++) flood.push(get('/symbols', '198.51.100.2'));
    expect((await Promise.all(flood)).some((a) => a.status === 429)).toBe(true);
    expect((await get('/livez', '198.51.100.2')).status).toBe(200);
    expect((await get('/health', '198.51.100.2')).status).toBe(200);
    expect((await get('/metrics', '198.51.100.2')).status).toBe(200);
    expect((await get('/symbols', '198.51.100.3')).status).toBe(200);
  });

  it('rations probes and scrapes apart: an address flooding them is refused, another still answers (reproduced: 2,582 /metrics a second)', async () => {
    const flood = [];
    for (let i = 0; i < 400; i++) flood.push(get(i % 2 ? '/metrics' : '/livez', '198.51.100.7'));
    const refused = (await Promise.all(flood)).filter((a) => a.status === 429);
    expect(refused.length).toBeGreaterThan(0);
    expect(refused.find((a) => a.body)?.body?.error).toMatch(/probe requests a second: 50 after a burst/);
    expect((await get('/health', '198.51.100.8')).status).toBe(200);
    // The clients' ration of the flooding address is its own.
    expect((await get('/symbols', '198.51.100.7')).status).toBe(200);
  });

  it("counts an answer's bytes: a page of 1,000 older candles counts 1 more per 64 KiB (reproduced: 312 MB of unread answers in 60 s from one address)", async () => {
    const endTime = Date.now() - 30 * 86_400_000;
    const first = await request(`${app.url}/candles/BTCUSDT/1m?limit=1000&endTime=${endTime}`, { headers: { 'x-forwarded-for': '198.51.100.9' } });
    expect(first.statusCode).toBe(200);
    const firstText = await first.body.text();
    const cost = 1 + Math.floor(Buffer.byteLength(firstText) / BYTES_PER_REQUEST);
    expect(cost).toBeGreaterThanOrEqual(2);
    const statuses = [200];
    for (let i = 0; i < 19; i++) statuses.push((await get(`/candles/BTCUSDT/1m?limit=1000&endTime=${endTime}`, '198.51.100.9')).status);
    const served = statuses.filter((s) => s === 200).length;
    // A burst of 20 at `cost` each, and what refilled meanwhile (4 a second): 20 served before.
    expect(served).toBeGreaterThanOrEqual(Math.floor(20 / cost));
    expect(served).toBeLessThan(Math.ceil(20 / cost) + 5);
  });

  it('counts the web client\'s files too (reproduced: pipelined asset requests held ~1.1 GB of answers)', async () => {
    const answers = [];
    for (let i = 0; i < 25; i++) answers.push((await get('/', '198.51.100.4')).status);
    expect(answers.filter((s) => s === 429).length).toBeGreaterThan(0);
    expect(answers.slice(0, 20).every((s) => s === 200)).toBe(true);
  });

  it.each([
    ['OPTIONS', '/symbols', '198.51.100.21'],
    ['POST', '/symbols', '198.51.100.22'],
    ['POST', '/no/such/route', '198.51.100.23'],
  ])('counts %s %s too: preflights, 405s and 404s (reproduced: 300 of 300 answered in 150 ms)', async (method, path, from) => {
    const answers = [];
    for (let i = 0; i < 30; i++) {
      const res = await request(`${app.url}${path}`, { method, headers: { 'x-forwarded-for': from } });
      await res.body.text();
      answers.push(res.statusCode);
    }
    expect(answers.slice(0, 20).every((s) => s !== 429)).toBe(true);
    expect(answers.filter((s) => s === 429).length).toBeGreaterThan(0);
  });

  it('counts a long derived-series range by its pages of 500 points: 10,000 take the burst of 20 (reproduced: one each)', async () => {
    const first = await get('/series/rsi/BTCUSDT/1m?limit=10000', '198.51.100.5');
    expect(first.status).not.toBe(429);
    const next = await get('/symbols', '198.51.100.5');
    expect(next.status).toBe(429);
    // A page of 500 counts one.
    expect((await get('/series/rsi/BTCUSDT/1m?limit=500', '198.51.100.6')).status).not.toBe(429);
    expect((await get('/symbols', '198.51.100.6')).status).toBe(200);
  });
});
