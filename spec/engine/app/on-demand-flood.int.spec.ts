import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { request } from 'undici';
import type { App } from '../../../engine/src/app.ts';
import { startTestApp } from '../../helpers/test-app.ts';
import { EngineClient } from '../../helpers/ws-client.ts';

const CAP = 4;

/**
 * An anonymous client floods one-off reads of cold symbols. Each read makes a series live on demand;
 * nobody holds it afterwards. Before: the first MAX_ON_DEMAND_SERIES reads filled the engine for
 * IDLE_SERIES_MS (10 minutes by default) and every other user's cold symbol was refused meanwhile.
 */
describe('a flood of one-off reads of cold symbols, against the simulated exchange', () => {
  let app: App;
  let cold: string[];
  const subscribed = () => app.sim!.subscriptions().flat();

  beforeAll(async () => {
    app = await startTestApp({
      source: 'sim',
      symbols: ['BTCUSDT'],
      intervals: ['1m', '5m'],
      bufferSize: 200,
      historyOnConnect: 100,
      seriesDir: '',
      // Long enough that nothing goes idle by time during the test.
      idleSeriesMs: 120_000,
      maxOnDemandSeries: CAP,
      simOptions: { pushIntervalMs: 100, clockSpeed: 60, universeSize: 60 },
    });
    await app.ready;
    cold = app.sim!.symbols.filter((s) => s !== 'BTCUSDT').slice(-20);
  });
  afterAll(async () => {
    await app?.stop();
  });

  it('cannot lock other users out: series nobody holds make room for new ones, within the cap', async () => {
    const flood = cold.splice(0, CAP * 3);
    const codes: number[] = [];
    for (const sym of flood) {
      const res = await request(`${app.url}/candles/${sym}/1m?limit=5`);
      codes.push(res.statusCode);
      await res.body.dump();
      expect(app.lifecycle.counts().onDemand).toBeLessThanOrEqual(CAP);
    }
    // Every read served (before: the reads past the cap were refused with 503).
    expect(codes).toEqual(flood.map(() => 200));
    // A user arriving after the flood gets a cold symbol at once, not series_capacity.
    const user = new EngineClient(`${app.url.replace('http', 'ws')}/ws/${cold.pop()!}?interval=5m`);
    try {
      await user.until((c) => c.historical() !== undefined || c.closeCode !== undefined, 15_000, 'an answer');
      expect(user.messages.find((m) => m.type === 'error')).toBeUndefined();
      expect(user.historical()!.data.length).toBeGreaterThan(0);
      expect(app.lifecycle.counts().onDemand).toBeLessThanOrEqual(CAP);
      // Upstream: BTCUSDT's two streams and at most CAP on-demand ones once the unsubscribes are sent.
      const end = Date.now() + 5000;
      while (subscribed().length > 2 + CAP && Date.now() < end) await new Promise((r) => setTimeout(r, 50));
      expect(subscribed().length).toBeLessThanOrEqual(2 + CAP);
    } finally {
      user.close();
    }
  });

  it('still refuses past the cap when every on-demand series is held by a client', async () => {
    const held = cold.splice(0, CAP).map((s) => new EngineClient(`${app.url.replace('http', 'ws')}/ws/${s}?interval=1m`));
    try {
      for (const c of held) await c.until((x) => x.historical() !== undefined, 15_000, 'historical');
      const res = await request(`${app.url}/candles/${cold.pop()!}/1m`);
      expect(res.statusCode).toBe(503);
      expect(await res.body.json()).toMatchObject({ code: 'series_capacity' });
      // The held ones were not taken away.
      for (const c of held) expect(c.closeCode).toBeUndefined();
    } finally {
      for (const c of held) c.close();
    }
  });
});

/**
 * One client starting cold series as fast as it can. Before: every new symbol cost a REST bootstrap
 * (weight 2) drawn from the budget gap fills need, with nothing per client; a single address could
 * spend the whole REST budget on cold symbols, minute after minute.
 */
describe('new on-demand series rationed per client address (ON_DEMAND_PER_MIN)', () => {
  let app: App;
  let cold: string[];

  beforeAll(async () => {
    app = await startTestApp({
      source: 'sim',
      symbols: ['BTCUSDT'],
      intervals: ['1m', '5m'],
      bufferSize: 200,
      historyOnConnect: 100,
      seriesDir: '',
      idleSeriesMs: 120_000,
      maxOnDemandSeries: 50,
      // A burst of 3, then one every 10 s.
      onDemandPerMinute: 6,
      simOptions: { pushIntervalMs: 100, clockSpeed: 60, universeSize: 60 },
    });
    await app.ready;
    cold = app.sim!.symbols.filter((s) => s !== 'BTCUSDT').slice(-20);
  });
  afterAll(async () => {
    await app?.stop();
  });

  it('serves a burst, then refuses new series with 429 / rate_limited without touching the exchange; joining and configured series stay free', async () => {
    const started = cold.splice(0, 3);
    for (const sym of started) {
      const res = await request(`${app.url}/candles/${sym}/1m?limit=5`);
      expect(res.statusCode).toBe(200);
      await res.body.dump();
    }
    const over = cold.pop()!;
    const res = await request(`${app.url}/candles/${over}/1m?limit=5`);
    expect(res.statusCode).toBe(429);
    expect(Number(res.headers['retry-after'])).toBeGreaterThanOrEqual(1);
    expect(await res.body.json()).toMatchObject({ code: 'rate_limited' });
    const overWs = cold.pop()!;
    const c = new EngineClient(`${app.url.replace('http', 'ws')}/ws/${overWs}?interval=5m`);
    await c.until((x) => x.closeCode !== undefined, 5000, 'close');
    expect(c.messages.at(-1)).toMatchObject({ type: 'error', code: 'rate_limited' });
    expect(c.closeCode).toBe(4000);
    // Refused before any REST call or upstream subscription.
    expect(app.sim!.klinesRequests(over, '1m')).toBe(0);
    expect(app.sim!.klinesRequests(overWs, '5m')).toBe(0);
    expect(app.lifecycle.counts().onDemand).toBe(3);
    // A series already live (started by anyone) and a configured one cost nothing.
    for (const path of [`/candles/${started[0]}/1m?limit=5`, '/candles/BTCUSDT/5m?limit=5']) {
      const again = await request(app.url + path);
      expect(again.statusCode).toBe(200);
      await again.body.dump();
    }
    const join = new EngineClient(`${app.url.replace('http', 'ws')}/ws/${started[1]}?interval=1m`);
    try {
      await join.until((x) => x.historical() !== undefined || x.closeCode !== undefined, 5000, 'historical');
      expect(join.historical()).toBeDefined();
    } finally {
      join.close();
    }
  });
});

/**
 * Behind the load balancer (deploy/haproxy/haproxy.cfg) every client reaches the engine from the proxy's
 * address. Before: the per-address limits (new on-demand series, client history) were one budget
 * for all users together; with TRUST_PROXY the client's address comes from X-Forwarded-For.
 */
describe('client addresses behind a trusted proxy (TRUST_PROXY)', () => {
  let app: App;
  let cold: string[];
  const get = async (path: string, headers: Record<string, string>) => {
    const res = await request(app.url + path, { headers });
    await res.body.dump();
    return res.statusCode;
  };

  beforeAll(async () => {
    app = await startTestApp({
      source: 'sim',
      symbols: ['BTCUSDT'],
      intervals: ['1m'],
      bufferSize: 100,
      historyOnConnect: 50,
      seriesDir: '',
      idleSeriesMs: 120_000,
      // One new series per address, then one every 30 s.
      onDemandPerMinute: 2,
      trustProxy: ['127.0.0.1'],
      simOptions: { pushIntervalMs: 100, clockSpeed: 60, universeSize: 40 },
    });
    await app.ready;
    cold = app.sim!.symbols.filter((s) => s !== 'BTCUSDT').slice(-10);
  });
  afterAll(async () => {
    await app?.stop();
  });

  it('rations each forwarded client on its own; the proxy appends the peer it saw, so a forged first hop gains nothing', async () => {
    expect(await get(`/candles/${cold[0]}/1m?limit=2`, { 'x-forwarded-for': '10.0.0.1' })).toBe(200);
    expect(await get(`/candles/${cold[1]}/1m?limit=2`, { 'x-forwarded-for': '10.0.0.1' })).toBe(429);
    // Another user behind the same proxy has a budget of its own.
    expect(await get(`/candles/${cold[2]}/1m?limit=2`, { 'x-forwarded-for': '10.0.0.2' })).toBe(200);
    // A client that sends its own header: the proxy appends the address it saw (the rightmost counts).
    expect(await get(`/candles/${cold[3]}/1m?limit=2`, { 'x-forwarded-for': '10.9.9.9, 10.0.0.1' })).toBe(429);
    // WebSocket upgrades too.
    const ws = new EngineClient(`${app.url.replace('http', 'ws')}/ws/${cold[4]}?interval=1m`);
    // (no header: the proxy's own address, 127.0.0.1, is a client like any other)
    try {
      await ws.until((c) => c.historical() !== undefined || c.closeCode !== undefined, 10_000, 'an answer');
      expect(ws.historical()).toBeDefined();
    } finally {
      ws.close();
    }
  });
});
