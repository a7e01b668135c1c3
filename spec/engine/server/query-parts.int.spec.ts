import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { App } from '../../../engine/src/app.ts';
import { MAX_QUERY_PARTS } from '../../../engine/src/server/request-params.ts';
import { startTestApp } from '../../helpers/test-app.ts';
import { EngineClient } from '../../helpers/ws-client.ts';

/**
 * A parameter past the query parser's 1,000th `&`-separated part was dropped without a word:
 * `?` + 1,000 `&` + `endTime=1` answered the latest page, `period=0` the default rsi, `interval=bogus`
 * a 1m socket (an attacker-style probe). Such a query is refused, as any other bad one.
 */
const padded = (param: string) => `${'&'.repeat(1000)}${param}`;

describe('a query of too many parts', () => {
  let app: App;
  beforeAll(async () => {
    app = await startTestApp({ source: 'sim', symbols: ['BTCUSDT'], intervals: ['1m'], bufferSize: 100, historyOnConnect: 50, seriesDir: 'series', simOptions: { pushIntervalMs: 100, clockSpeed: 60 } });
    await app.ready;
  }, 30_000);
  afterAll(async () => {
    await app?.stop();
  });

  it('HTTP: a 400 naming the bound, not a page with the parameter dropped', async () => {
    for (const path of [`/candles/BTCUSDT/1m?limit=2${padded('endTime=1')}`, `/candles/BTCUSDT/1m?${padded('limit=abc')}`, `/series/rsi/BTCUSDT/1m?limit=2${padded('period=0')}`]) {
      const res = await request(`${app.url}${path}`);
      const body = (await res.body.json()) as { error: string };
      expect(res.statusCode, path.slice(-20)).toBe(400);
      expect(body.error).toBe(`too many query parameters (at most ${MAX_QUERY_PARTS})`);
    }
  });

  it('HTTP: a query within the bound is read whole, and none at all is no query', async () => {
    const res = await request(`${app.url}/candles/BTCUSDT/1m?${'&'.repeat(MAX_QUERY_PARTS - 2)}limit=2`);
    expect(res.statusCode).toBe(200);
    expect(((await res.body.json()) as { candles: unknown[] }).candles).toHaveLength(2);
    // uWS gives no query text at all here (undefined, not '').
    for (const path of ['/candles/BTCUSDT/1m', '/series/rsi/BTCUSDT/1m']) expect((await request(`${app.url}${path}`)).statusCode, path).toBe(200);
  });

  it('WebSocket: an error and close 4000, not a socket on the default interval', async () => {
    const c = new EngineClient(`${app.url.replace('http', 'ws')}/ws/BTCUSDT?${padded('interval=bogus')}`);
    try {
      await c.until((x) => x.closeCode !== undefined, 10_000, 'close');
      expect(c.messages.map((m) => m.type)).toEqual(['error']);
      expect((c.messages[0] as { message: string }).message).toBe(`too many query parameters (at most ${MAX_QUERY_PARTS})`);
      expect(c.closeCode).toBe(4000);
    } finally {
      c.close();
    }
  });
});
