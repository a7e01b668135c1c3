import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { App } from '../../../engine/src/app.ts';
import { seriesId } from '../../../engine/src/domain/series-id.ts';
import { startTestApp } from '../../helpers/test-app.ts';

/**
 * An address over its history allowance (CLIENT_HISTORY_PER_MIN) is told so the same way by both
 * history routes: 429 with Retry-After. `/series` answered 503, the status of a full cap or queue,
 * so a client could not tell its own excess from the engine's (found by probing). ROLE=all on the
 * simulator, real HTTP.
 */
describe('a history refusal for one address over its allowance, on /candles and /series', () => {
  let app: App;
  beforeAll(async () => {
    app = await startTestApp({
      source: 'sim',
      symbols: ['BTCUSDT'],
      intervals: ['1m'],
      bufferSize: 100,
      historyOnConnect: 50,
      seriesDir: 'series',
      // Burst 1 (a third of it): the second page older than the store is refused.
      clientHistoryPerMinute: 3,
    });
    await app.ready;
  });
  afterAll(async () => {
    await app?.stop();
  });

  /** Statuses (and Retry-After) of pages older than the store, each one another page, until one is refused. */
  async function untilRefused(path: (endTime: number) => string) {
    const oldest = app.store.window(seriesId('BTCUSDT', '1m')).last(1)[0]!.openTime - 100 * 60_000;
    const seen: number[] = [];
    for (let k = 0; k < 5; k++) {
      const res = await request(`${app.url}${path(oldest - k * 500 * 60_000)}`);
      await res.body.text();
      seen.push(res.statusCode);
      if (res.statusCode !== 200) return { seen, retryAfter: Number(res.headers['retry-after']) };
    }
    return { seen, retryAfter: NaN };
  }

  it('/candles refuses a parameter it does not take (startTime answered the newest bars, as if it worked)', async () => {
    const res = await request(`${app.url}/candles/BTCUSDT/1m?startTime=0&limit=2`);
    expect({ status: res.statusCode, body: await res.body.json() }).toEqual({ status: 400, body: { error: "unknown parameter 'startTime' (this route takes endTime and limit)" } });
    const ok = await request(`${app.url}/candles/BTCUSDT/1m?limit=2`);
    expect(ok.statusCode).toBe(200);
    await ok.body.text();
  });

  it('answers 429 with Retry-After on both routes', async () => {
    const candles = await untilRefused((t) => `/candles/BTCUSDT/1m?endTime=${t}&limit=100`);
    expect(candles.seen.at(-1)).toBe(429);
    expect(candles.retryAfter).toBeGreaterThanOrEqual(1);
    const series = await untilRefused((t) => `/series/rsi/BTCUSDT/1m?endTime=${t}&limit=100`);
    expect(series.seen.at(-1)).toBe(429);
    expect(series.retryAfter).toBeGreaterThanOrEqual(1);
  });
});
