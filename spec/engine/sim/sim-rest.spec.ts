import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type SimExchange, startSimExchange } from '../../../engine/sim/sim-exchange.ts';
import { bucketOpen, closeTime } from '../../../engine/src/domain/interval.ts';

const M = 60_000;
// Frozen clock (a millisecond of sim time per 1000 s): the forming bucket does not move during the suite.
const CLOCK = Date.UTC(2024, 2, 20, 12, 34, 56, 789);
const LISTED = Date.UTC(2024, 0, 1);

type Row = [number, string, string, string, string, string, number, string, number, string, string, string];

let sim: SimExchange;

async function get(path: string, params: Record<string, string | number> = {}): Promise<{ status: number; body: unknown; headers: Headers }> {
  const q = new URLSearchParams(Object.entries(params).map(([k, v]) => [k, String(v)]));
  const res = await fetch(`${sim.restUrl}${path}${q.size ? `?${q}` : ''}`);
  return { status: res.status, body: await res.json(), headers: res.headers };
}

async function rows(params: Record<string, string | number>): Promise<Row[]> {
  const { status, body } = await get('/api/v3/klines', { symbol: 'BTCUSDT', ...params });
  expect(status, JSON.stringify(body)).toBe(200);
  return body as Row[];
}

const opens = (rs: Row[]) => rs.map((r) => r[0]);

describe('simulated exchange REST', () => {
  beforeAll(async () => {
    sim = await startSimExchange({ symbols: ['BTCUSDT', 'ETHUSDT', 'DOGEUSDT'], clockStart: CLOCK, clockSpeed: 1e-6, listedSince: LISTED, weightLimitPerMinute: 1_000_000 });
  });
  afterAll(async () => {
    await sim?.close();
  });

  it('answers ping, time and exchangeInfo in Binance shapes', async () => {
    expect((await get('/api/v3/ping')).body).toEqual({});
    expect((await get('/api/v3/time')).body).toEqual({ serverTime: expect.any(Number) });
    expect(Math.abs(((await get('/api/v3/time')).body as { serverTime: number }).serverTime - CLOCK)).toBeLessThan(5);
    const info = (await get('/api/v3/exchangeInfo')).body as Record<string, unknown>;
    expect(info).toMatchObject({ timezone: 'UTC', exchangeFilters: [], rateLimits: expect.arrayContaining([{ rateLimitType: 'REQUEST_WEIGHT', interval: 'MINUTE', intervalNum: 1, limit: 1_000_000 }]) });
    expect(info.symbols).toEqual(['BTCUSDT', 'ETHUSDT', 'DOGEUSDT'].map((s) => ({ symbol: s, status: 'TRADING', baseAsset: s.replace('USDT', ''), quoteAsset: 'USDT', filters: [] })));
    const one = (await get('/api/v3/exchangeInfo', { symbol: 'ETHUSDT' })).body as { symbols: Array<{ symbol: string }> };
    expect(one.symbols.map((s) => s.symbol)).toEqual(['ETHUSDT']);
    const two = (await get('/api/v3/exchangeInfo', { symbols: '["DOGEUSDT","BTCUSDT"]' })).body as { symbols: Array<{ symbol: string }> };
    expect(two.symbols.map((s) => s.symbol)).toEqual(['DOGEUSDT', 'BTCUSDT']);
    expect(await get('/api/v3/exchangeInfo', { symbol: 'NOPEUSDT' })).toMatchObject({ status: 400, body: { code: -1121, msg: 'Invalid symbol.' } });
    expect(await get('/api/v3/exchangeInfo', { symbols: '["BTCUSDT","NOPEUSDT"]' })).toMatchObject({ status: 400, body: { code: -1121 } });
    expect(await get('/api/v3/exchangeInfo', { symbols: '[BTCUSDT' })).toMatchObject({ status: 400, body: { code: -1135 } });
  });

  it('serves 12-element rows: numbers at 0, 6 and 8, exact decimal strings elsewhere', async () => {
    for (const symbol of ['BTCUSDT', 'DOGEUSDT']) {
      const rs = (await get('/api/v3/klines', { symbol, interval: '1h', limit: 50 })).body as Row[];
      expect(rs).toHaveLength(50);
      for (const r of rs) {
        expect(r).toHaveLength(12);
        r.forEach((v, i) => expect(typeof v, `index ${i}`).toBe([0, 6, 8].includes(i) ? 'number' : 'string'));
        expect(r[11]).toBe('0');
        expect(r[6]).toBe(closeTime(r[0], '1h'));
        for (const i of [1, 2, 3, 4]) expect(r[i]).toMatch(symbol === 'BTCUSDT' ? /^\d+\.\d{2}$/ : /^0\.\d{5}$/);
        for (const i of [5, 7, 9, 10]) expect(r[i]).toMatch(/^\d+\.\d{8}$/);
        const [o, h, l, c] = [r[1], r[2], r[3], r[4]].map(Number) as [number, number, number, number];
        expect(h).toBeGreaterThanOrEqual(Math.max(o, c, l));
        expect(l).toBeLessThanOrEqual(Math.min(o, c));
        expect(Number(r[5])).toBeGreaterThan(0);
        expect(Number(r[9])).toBeLessThanOrEqual(Number(r[5]));
        expect(r[8]).toBeGreaterThan(0);
      }
    }
  });

  it('uiKlines has the same rows as klines', async () => {
    const params = { symbol: 'ETHUSDT', interval: '15m', endTime: CLOCK - 86_400_000, limit: 20 };
    expect((await get('/api/v3/uiKlines', params)).body).toEqual((await get('/api/v3/klines', params)).body);
  });

  describe('window selection', () => {
    const forming = bucketOpen(CLOCK, '1m');

    it('no times: the newest `limit` rows, the last one forming with its close time in the future', async () => {
      const rs = await rows({ interval: '1m', limit: 5 });
      expect(opens(rs)).toEqual([4, 3, 2, 1, 0].map((k) => forming - k * M));
      expect(rs[4]![6]).toBeGreaterThan(sim.now());
      expect(await rows({ interval: '1m' })).toHaveLength(500);
    });

    it('startTime only: the oldest rows from startTime; a bucket opening before startTime is left out', async () => {
      const start = Date.UTC(2024, 1, 1, 10);
      expect(opens(await rows({ interval: '1m', startTime: start, limit: 3 }))).toEqual([start, start + M, start + 2 * M]);
      expect(opens(await rows({ interval: '1m', startTime: start + 1, limit: 2 }))).toEqual([start + M, start + 2 * M]);
      expect(opens(await rows({ interval: '1h', startTime: forming - 2 * 3_600_000 }))).toHaveLength(2);
    });

    it('endTime only: the newest rows up to endTime, the bucket holding endTime included', async () => {
      const end = Date.UTC(2024, 1, 1, 10, 0, 30);
      expect(opens(await rows({ interval: '1m', endTime: end, limit: 3 }))).toEqual([end - 30_000 - 2 * M, end - 30_000 - M, end - 30_000]);
      expect(opens(await rows({ interval: '1d', endTime: Date.UTC(2024, 1, 10, 23, 59), limit: 2 }))).toEqual([Date.UTC(2024, 1, 9), Date.UTC(2024, 1, 10)]);
    });

    it('both: from startTime, nothing past endTime; equal values allowed', async () => {
      const start = Date.UTC(2024, 1, 1, 10);
      const rs = await rows({ interval: '5m', startTime: start, endTime: start + 20 * M, limit: 1000 });
      expect(opens(rs)).toEqual([0, 1, 2, 3, 4].map((k) => start + k * 5 * M));
      expect(opens(await rows({ interval: '5m', startTime: start, endTime: start, limit: 1000 }))).toEqual([start]);
      expect(await rows({ interval: '5m', startTime: start + 1, endTime: start + 2 })).toEqual([]);
    });

    it('nothing after now and nothing before listedSince', async () => {
      expect(await rows({ interval: '1m', startTime: CLOCK + 10 * M })).toEqual([]);
      expect(opens(await rows({ interval: '1m', startTime: CLOCK - 2 * M }))).toEqual([forming - M, forming]);
      expect(await rows({ interval: '1h', endTime: LISTED - 1 })).toEqual([]);
      expect(opens(await rows({ interval: '1h', startTime: LISTED - 10 * 3_600_000, limit: 2 }))).toEqual([LISTED, LISTED + 3_600_000]);
      expect(opens(await rows({ interval: '1h', endTime: LISTED + 3_600_000, limit: 1000 }))).toEqual([LISTED, LISTED + 3_600_000]);
    });

    it('accepts startTime and endTime in microseconds', async () => {
      const start = Date.UTC(2024, 1, 1, 10);
      expect(await rows({ interval: '1m', startTime: start * 1000, limit: 3 })).toEqual(await rows({ interval: '1m', startTime: start, limit: 3 }));
    });

    it('1M rows follow calendar months, 1w rows open on Monday', async () => {
      const months = opens(await rows({ interval: '1M', limit: 5 }));
      expect(months).toEqual([Date.UTC(2024, 0, 1), Date.UTC(2024, 1, 1), Date.UTC(2024, 2, 1)]);
      const weeks = opens(await rows({ interval: '1w', limit: 3 }));
      for (const w of weeks) expect(new Date(w).getUTCDay()).toBe(1);
      expect(weeks[2]).toBe(bucketOpen(CLOCK, '1w'));
    });

    it('timeZone moves day boundaries; times stay UTC epoch values', async () => {
      const rs = await rows({ interval: '1d', timeZone: '+08:00', endTime: Date.UTC(2024, 1, 10, 12), limit: 2 });
      expect(opens(rs)).toEqual([Date.UTC(2024, 1, 8, 16), Date.UTC(2024, 1, 9, 16)]);
      expect(rs[1]![6]).toBe(Date.UTC(2024, 1, 10, 16) - 1);
      expect(await rows({ interval: '1d', timeZone: '8', endTime: Date.UTC(2024, 1, 10, 12), limit: 2 })).toEqual(rs);
    });

    it('pages of 1000 chained by startTime join without gap or overlap and equal truth()', async () => {
      const start = Date.UTC(2024, 2, 1);
      const all: Row[] = [];
      for (let from = start, page = 0; page < 3; page++) {
        const rs = await rows({ interval: '1m', startTime: from, limit: 1000 });
        expect(rs).toHaveLength(1000);
        all.push(...rs);
        from = rs[rs.length - 1]![0] + 1;
      }
      expect(opens(all)).toEqual(Array.from({ length: 3000 }, (_, k) => start + k * M));
      for (let k = 1; k < all.length; k++) expect(all[k]![1], 'open = previous close').toBe(all[k - 1]![4]);
      const truth = sim.truth('BTCUSDT', '1m', start, start + 2999 * M);
      expect(truth.map((b) => [b.openTime, b.open, b.high, b.low, b.close, b.volume])).toEqual(all.map((r) => [r[0], ...[1, 2, 3, 4, 5].map((i) => Number(r[i]))]));
    });

    it('trade ids run on: a row’s count is the difference of neighbouring first ids (1s and 1m agree)', async () => {
      // Trade ids are not on the REST row, but counts must add up: 60 one-second rows = one minute row.
      const start = Date.UTC(2024, 2, 20, 12, 30);
      const seconds = await rows({ interval: '1s', startTime: start, endTime: start + 59_999, limit: 1000 });
      expect(seconds).toHaveLength(60);
      const [minute] = await rows({ interval: '1m', startTime: start, limit: 1 });
      expect(seconds.reduce((n, r) => n + r[8], 0)).toBe(minute![8]);
      for (const r of seconds.filter((r) => r[8] === 0)) expect(new Set([r[1], r[2], r[3], r[4]]).size).toBe(1);
    });
  });

  describe('errors', () => {
    const cases: Array<[string, Record<string, string | number>, number, number]> = [
      ['missing symbol', { interval: '1m' }, 400, -1102],
      ['missing interval', { symbol: 'BTCUSDT' }, 400, -1102],
      ['lower-case symbol', { symbol: 'btcusdt', interval: '1m' }, 400, -1100],
      ['unknown symbol', { symbol: 'NOPEUSDT', interval: '1m' }, 400, -1121],
      ['bad interval 2m', { symbol: 'BTCUSDT', interval: '2m' }, 400, -1120],
      ['bad interval 1D', { symbol: 'BTCUSDT', interval: '1D' }, 400, -1120],
      ['limit 0', { symbol: 'BTCUSDT', interval: '1m', limit: 0 }, 400, -1130],
      ['limit 1001', { symbol: 'BTCUSDT', interval: '1m', limit: 1001 }, 400, -1130],
      ['limit abc', { symbol: 'BTCUSDT', interval: '1m', limit: 'abc' }, 400, -1130],
      ['negative limit', { symbol: 'BTCUSDT', interval: '1m', limit: -5 }, 400, -1100],
      ['non-numeric startTime', { symbol: 'BTCUSDT', interval: '1m', startTime: 'yesterday' }, 400, -1100],
      ['bad timeZone', { symbol: 'BTCUSDT', interval: '1d', timeZone: '+15:00' }, 400, -1130],
      ['unknown parameter', { symbol: 'BTCUSDT', interval: '1m', foo: 1 }, 400, -1104],
    ];
    it.each(cases)('%s → HTTP %s {code:%s}', async (_name, params, status, code) => {
      const res = await get('/api/v3/klines', params);
      expect(res.status).toBe(status);
      expect(res.body).toEqual({ code, msg: expect.any(String) });
      expect(res.headers.get('content-type')).toMatch(/^application\/json/);
    });

    it('Invalid symbol. / Invalid interval. texts and a duplicate parameter (-1101)', async () => {
      expect((await get('/api/v3/klines', { symbol: 'NOPEUSDT', interval: '1m' })).body).toEqual({ code: -1121, msg: 'Invalid symbol.' });
      expect((await get('/api/v3/klines', { symbol: 'BTCUSDT', interval: '7m' })).body).toEqual({ code: -1120, msg: 'Invalid interval.' });
      const res = await fetch(`${sim.restUrl}/api/v3/klines?symbol=BTCUSDT&interval=1m&interval=5m`);
      expect(res.status).toBe(400);
      expect(await res.json()).toMatchObject({ code: -1101 });
    });

    it('an unknown path is a 404 with a JSON error body', async () => {
      const res = await get('/api/v3/nope');
      expect(res.status).toBe(404);
      expect(res.body).toMatchObject({ code: -1, msg: expect.any(String) });
    });
  });
});

describe('simulated exchange REST weight and rate-limit faults', () => {
  let limited: SimExchange;
  beforeAll(async () => {
    limited = await startSimExchange({ symbols: ['BTCUSDT'], clockStart: CLOCK, weightLimitPerMinute: 10 });
  });
  afterAll(async () => {
    await limited?.close();
  });

  const call = async (path: string) => {
    const res = await fetch(`${limited.restUrl}${path}`);
    return { status: res.status, body: (await res.json()) as Record<string, unknown>, weight: Number(res.headers.get('x-mbx-used-weight-1m')), legacy: res.headers.get('x-mbx-used-weight'), retryAfter: res.headers.get('retry-after') };
  };
  /** Keeps a check within one UTC minute of real time (the weight window resets on the minute). */
  const awayFromMinuteEdge = async () => {
    const left = 60_000 - (Date.now() % 60_000);
    // 10 s: a loaded machine may take seconds over the handful of requests.
    if (left < 10_000) await new Promise((r) => setTimeout(r, left + 50));
  };

  it('charges 1, 2 and 20 per request, reports it on every response, then answers 429 -1003 with Retry-After', async () => {
    await awayFromMinuteEdge();
    const ping = await call('/api/v3/ping');
    const before = ping.weight;
    expect(ping.legacy).toBe(String(before));
    expect((await call('/api/v3/time')).weight).toBe(before + 1);
    const kl = await call('/api/v3/klines?symbol=BTCUSDT&interval=1m&limit=1');
    expect(kl.status).toBe(200);
    expect(kl.weight).toBe(before + 3);
    // Refused requests are charged too.
    expect((await call('/api/v3/klines?symbol=NOPEUSDT&interval=1m')).weight).toBe(before + 5);
    let sentAt = Date.now();
    let last = await call('/api/v3/klines?symbol=BTCUSDT&interval=1m&limit=1');
    while (last.status === 200) {
      sentAt = Date.now();
      last = await call('/api/v3/klines?symbol=BTCUSDT&interval=1m&limit=1');
    }
    const answeredAt = Date.now();
    expect(last.status).toBe(429);
    expect(last.weight).toBeGreaterThan(10);
    expect(last.body).toEqual({ code: -1003, msg: expect.stringContaining('Too much request weight used') });
    const retry = Number(last.retryAfter);
    expect(retry).toBeGreaterThanOrEqual(1);
    expect(retry).toBeLessThanOrEqual(60);
    // The seconds left in the minute at some moment between the request and its answer: a slow answer
    // may cross a second's edge, or the minute's (60 after 1).
    const secondsLeft = (t: number) => 60 - Math.floor((t % 60_000) / 1000);
    const possible = new Set([secondsLeft(answeredAt)]);
    for (let t = sentAt; t < answeredAt; t += 1000) possible.add(secondsLeft(t));
    expect([...possible]).toContain(retry);
    expect((await call('/api/v3/exchangeInfo')).status).toBe(429);
    expect(limited.stats.weightUsed).toBe(last.weight + 20);
  });
});

describe('simulated exchange REST faults', () => {
  let faulty: SimExchange;
  beforeAll(async () => {
    faulty = await startSimExchange({ symbols: ['BTCUSDT'], clockStart: CLOCK, weightLimitPerMinute: 1_000_000 });
  });
  afterAll(async () => {
    await faulty?.close();
  });

  const status = async () => {
    const res = await fetch(`${faulty.restUrl}/api/v3/klines?symbol=BTCUSDT&interval=1m&limit=1`);
    return { status: res.status, body: (await res.json()) as unknown, retryAfter: res.headers.get('retry-after') };
  };

  it('rateLimit: the next N requests get 429 or 418 with -1003 and the given Retry-After', async () => {
    faulty.faults.rateLimit({ status: 418, retryAfterSec: 7, requests: 2 });
    for (let i = 0; i < 2; i++) {
      const r = await status();
      expect(r).toEqual({ status: 418, body: { code: -1003, msg: expect.stringContaining('banned until') }, retryAfter: '7' });
    }
    expect((await status()).status).toBe(200);
    faulty.faults.rateLimit({ status: 429, retryAfterSec: 3, requests: 1 });
    expect(await status()).toEqual({ status: 429, body: { code: -1003, msg: expect.any(String) }, retryAfter: '3' });
    expect((await status()).status).toBe(200);
  });

  it('failRest: the next N requests fail with the given status and a {code,msg} body', async () => {
    faulty.faults.failRest({ status: 500, requests: 1 });
    faulty.faults.failRest({ status: 503, requests: 1 });
    expect(await status()).toMatchObject({ status: 500, body: { code: -1000, msg: expect.any(String) } });
    expect(await status()).toMatchObject({ status: 503, body: { code: expect.any(Number), msg: expect.any(String) } });
    expect((await status()).status).toBe(200);
    expect(faulty.stats.restRequests).toBeGreaterThanOrEqual(8);
  });
});
