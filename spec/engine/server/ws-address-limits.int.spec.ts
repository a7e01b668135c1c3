import WebSocket from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { App } from '../../../engine/src/app.ts';
import { startTestApp } from '../../helpers/test-app.ts';
import { EngineClient } from '../../helpers/ws-client.ts';

/** How an upgrade is answered: 101 when it opens (the socket then closed), else the status, Retry-After and body. */
function upgradeAnswer(url: string, headers: Record<string, string> = {}): Promise<{ status: number; retryAfter?: string; body: string }> {
  return new Promise((resolve) => {
    const ws = new WebSocket(url, { headers });
    ws.on('upgrade', () => {
      resolve({ status: 101, body: '' });
      ws.terminate();
    });
    ws.on('unexpected-response', (_req, res) => {
      let body = '';
      res.on('data', (d: Buffer) => (body += d.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, retryAfter: res.headers['retry-after'] as string | undefined, body }));
    });
    ws.on('error', () => resolve({ status: -1, body: '' }));
  });
}

/** The HTTP status an upgrade is answered with (101 when it opens). */
const upgradeStatus = async (url: string, headers: Record<string, string> = {}) => (await upgradeAnswer(url, headers)).status;

/**
 * An attacker's view of the WebSocket endpoint: one address opening sockets without end, and
 * cold symbols asked faster than ON_DEMAND_PER_MIN allows.
 */
describe('per-address limits on /ws, against the simulated exchange', () => {
  let app: App;
  let ws: string;
  const open: EngineClient[] = [];

  beforeAll(async () => {
    app = await startTestApp({
      source: 'sim',
      symbols: ['BTCUSDT'],
      intervals: ['1m'],
      bufferSize: 100,
      historyOnConnect: 50,
      seriesDir: '',
      maxConnectionsPerAddress: 3,
      // Behind a proxy on loopback: X-Forwarded-For names the client.
      trustProxy: ['127.0.0.1'],
      // A burst of 1 new series per address (half of 2 a minute).
      onDemandPerMinute: 2,
      simOptions: { pushIntervalMs: 100, clockSpeed: 60, universeSize: 40 },
    });
    await app.ready;
    ws = app.url.replace('http', 'ws');
  });
  afterAll(async () => {
    for (const c of open) c.close();
    await app?.stop();
  });

  it('caps the sockets one address holds (reproduced: unlimited), counts each address apart, and frees a place on close', async () => {
    const a = { 'x-forwarded-for': '203.0.113.7' };
    const mine = [0, 1, 2].map(() => new EngineClient(`${ws}/ws/BTCUSDT?interval=1m`, { headers: a }));
    open.push(...mine);
    for (const c of mine) await c.until((x) => x.historical() !== undefined, 10_000, 'historical');
    // The fourth from the same address: 429 before the upgrade.
    expect(await upgradeStatus(`${ws}/ws/BTCUSDT?interval=1m`, a)).toBe(429);
    // Another address is not affected.
    expect(await upgradeStatus(`${ws}/ws/BTCUSDT?interval=1m`, { 'x-forwarded-for': '198.51.100.9' })).toBe(101);
    // One closed: its place is free again.
    mine[0]!.close();
    const end = Date.now() + 5000;
    const again = async (): Promise<number> => {
      const status = await upgradeStatus(`${ws}/ws/BTCUSDT?interval=1m`, a);
      if (status === 101 || Date.now() > end) return status;
      await new Promise((r) => setTimeout(r, 50));
      return again();
    };
    expect(await again()).toBe(101);
    app.metrics.render();
    expect(app.metrics.value('engine_ws_address_refused_total')).toBeGreaterThanOrEqual(1);
  });

  it('refuses a cold symbol past ON_DEMAND_PER_MIN with rate_limited as the first message, not after a `loading` (reproduced)', async () => {
    const h = { 'x-forwarded-for': '192.0.2.44' };
    const [first, second] = app.sim!.symbols.filter((s) => s !== 'BTCUSDT').slice(-2);
    const a = new EngineClient(`${ws}/ws/${first}?interval=1m`, { headers: h });
    open.push(a);
    await a.until((x) => x.historical() !== undefined, 15_000, 'historical of the first cold symbol');
    expect(a.messages[0]!.type).toBe('loading');
    const b = new EngineClient(`${ws}/ws/${second}?interval=1m`, { headers: h });
    open.push(b);
    await b.until((x) => x.closeCode !== undefined, 10_000, 'the refusal');
    // With when to try again, as a field (the web client waits that long, then reconnects).
    expect(b.messages).toEqual([expect.objectContaining({ type: 'error', code: 'rate_limited', retryAfterSec: expect.any(Number) })]);
    const { retryAfterSec, message } = b.messages[0] as unknown as { retryAfterSec: number; message: string };
    expect(retryAfterSec).toBeGreaterThan(0);
    expect(message).toContain(`retry in ${retryAfterSec} s`);
    expect(b.closeCode).toBe(4000);
  });

  it('refuses more than 16 derived series in one request with an error naming the limit (reproduced: silently cut to 16)', async () => {
    const series = Array.from({ length: 17 }, (_, i) => `sma:period=${i + 2}`).join(',');
    const c = new EngineClient(`${ws}/ws/BTCUSDT?interval=1m&series=${encodeURIComponent(series)}`, { headers: { 'x-forwarded-for': '192.0.2.99' } });
    open.push(c);
    await c.until((x) => x.closeCode !== undefined, 10_000, 'the refusal');
    expect(c.messages[0]).toMatchObject({ type: 'error' });
    expect((c.messages[0] as { message: string }).message).toMatch(/at most 16 series per request/);
  });
});

describe('parameter variants per address on /ws (MAX_VARIANTS_PER_ADDRESS)', () => {
  let app: App;
  let ws: string;
  const open: EngineClient[] = [];
  beforeAll(async () => {
    app = await startTestApp({ source: 'sim', symbols: ['BTCUSDT'], intervals: ['1m'], bufferSize: 100, historyOnConnect: 50, seriesDir: 'series', maxConnectionsPerAddress: 3, trustProxy: ['127.0.0.1'], onDemandPerMinute: 1000, simOptions: { pushIntervalMs: 100, clockSpeed: 60 } });
    await app.ready;
    ws = app.url.replace('http', 'ws');
  });
  afterAll(async () => {
    for (const c of open) c.close();
    await app?.stop();
  });
  const connect = (address: string, periods: number[]) => {
    const series = periods.map((p) => `rsi:period=${p}`).join(',');
    const c = new EngineClient(`${ws}/ws/BTCUSDT?interval=1m&series=${encodeURIComponent(series)}`, { headers: { 'x-forwarded-for': address } });
    open.push(c);
    return c;
  };
  /** The candles come; the variants over the cap are refused to this socket alone, failed with why. */
  const refusedVariants = async (c: EngineClient) => {
    await c.until((x) => x.historical() !== undefined || x.closeCode !== undefined, 10_000, 'historical');
    const h = c.historical() as { data?: unknown[]; series?: Record<string, unknown[]>; seriesStatus?: Record<string, { state: string; error?: string; retryAfterSec?: number }> } | undefined;
    // A cap: the client is told when to ask again.
    for (const st of Object.values(h?.seriesStatus ?? {})) expect(st.retryAfterSec).toBe(30);
    const failed = Object.entries(h?.seriesStatus ?? {}).map(([label, st]) => `${label}: ${st.state} (${st.error})`);
    return { close: c.closeCode, candles: (h?.data?.length ?? 0) > 0, failed, empty: Object.entries(h?.series ?? {}).filter(([, p]) => p.length === 0).map(([label]) => label) };
  };
  const overCap = "at most 4 parameter variants of 'rsi' on BTCUSDT 1m from one address";

  it('one address cannot take every variant place of a series: the variants over its cap are failed to that socket, its candles served (reproduced: one socket with 16 variants locked every other address out; then: the whole chart refused)', async () => {
    const periods = Array.from({ length: 16 }, (_, i) => 60 + i);
    const flood = connect('203.0.113.50', periods);
    expect(await refusedVariants(flood)).toEqual({ close: undefined, candles: true, failed: periods.map((p) => `rsi:period=${p}: failed (${overCap})`), empty: periods.map((p) => `rsi:period=${p}`) });
    flood.close();
    const mine = connect('203.0.113.50', [60, 61, 62, 63]);
    await mine.until((x) => x.historical() !== undefined, 15_000, 'historical with 4 variants');
    expect((mine.historical() as { seriesStatus?: unknown }).seriesStatus).toBeUndefined();
    const fifth = connect('203.0.113.50', [64]);
    expect(await refusedVariants(fifth)).toEqual({ close: undefined, candles: true, failed: [`rsi:period=64: failed (${overCap})`], empty: ['rsi:period=64'] });
    fifth.close();
    await new Promise((r) => setTimeout(r, 200));
    // The same variants again from that address, and another address's own: served.
    const again = connect('203.0.113.50', [60]);
    const other = connect('198.51.100.50', [21, 22, 23, 24]);
    await again.until((x) => x.historical() !== undefined, 15_000, 'historical, a variant it holds');
    await other.until((x) => x.historical() !== undefined, 15_000, "another address's historical");
    // Places come back as its sockets close.
    mine.close();
    again.close();
    await new Promise((r) => setTimeout(r, 200));
    const later = connect('203.0.113.50', [64, 65, 66, 67]);
    await later.until((x) => x.historical() !== undefined, 15_000, 'historical once its places are free');
  });

  it('rations new connections per address: a client connecting and closing in a loop gets 429 rate_limited after its burst (reproduced: unbounded, each connect a first message)', async () => {
    const a = { 'x-forwarded-for': '192.0.2.77' };
    const answer = (headers: Record<string, string>) => upgradeAnswer(`${ws}/ws/BTCUSDT?interval=1m`, headers);
    const t0 = Date.now();
    let opened = 0;
    let refused: Awaited<ReturnType<typeof answer>> | undefined;
    // One socket at a time (the cap is 3): the burst (64 here), plus what refills meanwhile (10 a second).
    for (let i = 0; i < 400 && !refused; i++) {
      const r = await answer(a);
      if (r.status === 101) opened++;
      else if (r.status === 429 && JSON.parse(r.body).code === 'rate_limited') refused = r;
      else if (r.status !== 429) throw new Error(`unexpected ${r.status}`);
      // (a 429 too_many_connections: the previous socket's close not seen yet)
    }
    const seconds = (Date.now() - t0) / 1000;
    expect(refused, `${opened} opened in ${seconds} s`).toBeDefined();
    expect(opened).toBeGreaterThanOrEqual(64);
    expect(opened).toBeLessThanOrEqual(64 + Math.ceil(10 * seconds) + 1);
    expect(JSON.parse(refused!.body)).toMatchObject({ code: 'rate_limited', error: expect.stringMatching(/too many new connections/) });
    expect(Number(refused!.retryAfter)).toBeGreaterThanOrEqual(1);
    // Another address is not affected.
    expect((await answer({ 'x-forwarded-for': '192.0.2.78' })).status).toBe(101);
    app.metrics.render();
    expect(app.metrics.value('engine_ws_connect_rate_refused_total')).toBeGreaterThanOrEqual(1);
  });

  /** Connects from `address` asking for `series` until the ration refuses one: how many opened, in how long. */
  const untilRefused = async (address: string, series: string) => {
    const t0 = Date.now();
    let opened = 0;
    let refused = false;
    for (let i = 0; i < 400 && !refused; i++) {
      const r = await upgradeAnswer(`${ws}/ws/BTCUSDT?interval=1m&series=${series}`, { 'x-forwarded-for': address });
      if (r.status === 101) opened++;
      else if (r.status === 429 && JSON.parse(r.body).code === 'rate_limited') refused = true;
      else if (r.status !== 429) throw new Error(`unexpected ${r.status}`);
    }
    const seconds = (Date.now() - t0) / 1000;
    expect(refused, `${opened} opened in ${seconds} s`).toBe(true);
    return { opened, seconds };
  };
  const sixteen = Array.from({ length: 16 }, (_, i) => `s${i}`).join(',');

  it('counts a connect asking for 16 derived series as 5 of the ration (reproduced: 1, and 256 such connects from one address stalled the event loop 100-200 ms)', async () => {
    // Any 16 names: the ration is taken before the parse (a refused parse has paid too).
    const { opened, seconds } = await untilRefused('192.0.2.79', sixteen);
    // The burst of 64 tokens at 5 a connect, plus 10 tokens a second (2 connects) meanwhile.
    expect(opened).toBeGreaterThanOrEqual(12);
    expect(opened).toBeLessThanOrEqual(12 + Math.ceil(2 * seconds) + 1);
  });

  it('counts them as 5 with empty entries before them too (reproduced: 17 leading commas made it 1, 64 connects opened before a refusal)', async () => {
    const { opened, seconds } = await untilRefused('192.0.2.80', `${','.repeat(17)}${sixteen}`);
    expect(opened).toBeLessThanOrEqual(12 + Math.ceil(2 * seconds) + 1);
  });
});

describe('connections per node on /ws (MAX_CLIENTS)', () => {
  let app: App;
  let ws: string;
  const open: EngineClient[] = [];
  beforeAll(async () => {
    app = await startTestApp({ source: 'sim', symbols: ['BTCUSDT'], intervals: ['1m'], bufferSize: 100, historyOnConnect: 50, seriesDir: '', maxClients: 3, trustProxy: ['127.0.0.1'], simOptions: { pushIntervalMs: 100, clockSpeed: 60 } });
    await app.ready;
    ws = app.url.replace('http', 'ws');
  });
  afterAll(async () => {
    for (const c of open) c.close();
    await app?.stop();
  });

  it('refuses a connection past MAX_CLIENTS from any address with 503 server_full and Retry-After, and serves one again once a place is free (reproduced: 16,000 sockets from 64 addresses, each under its cap)', async () => {
    const held = ['203.0.113.1', '203.0.113.2', '203.0.113.3'].map((a) => new EngineClient(`${ws}/ws/BTCUSDT?interval=1m`, { headers: { 'x-forwarded-for': a } }));
    open.push(...held);
    for (const c of held) await c.until((x) => x.historical() !== undefined, 10_000, 'historical');
    const refused = await upgradeAnswer(`${ws}/ws/BTCUSDT?interval=1m`, { 'x-forwarded-for': '203.0.113.4' });
    expect(refused.status).toBe(503);
    expect(JSON.parse(refused.body)).toMatchObject({ code: 'server_full', error: expect.stringMatching(/MAX_CLIENTS/) });
    expect(Number(refused.retryAfter)).toBeGreaterThanOrEqual(1);
    app.metrics.render();
    expect(app.metrics.value('engine_ws_server_full_refused_total')).toBe(1);
    held[0]!.close();
    const end = Date.now() + 5000;
    let status = 0;
    while (status !== 101 && Date.now() < end) {
      status = (await upgradeAnswer(`${ws}/ws/BTCUSDT?interval=1m`, { 'x-forwarded-for': '203.0.113.4' })).status;
      if (status !== 101) await new Promise((r) => setTimeout(r, 50));
    }
    expect(status).toBe(101);
  });
});

describe('new connections per node on /ws (MAX_CONNECTS_PER_SECOND)', () => {
  let app: App;
  let ws: string;
  beforeAll(async () => {
    // A burst of MAX_CLIENTS (4; more than the rate), then 2 a second, every address together.
    app = await startTestApp({ source: 'sim', symbols: ['BTCUSDT'], intervals: ['1m'], bufferSize: 100, historyOnConnect: 50, seriesDir: '', maxClients: 4, maxConnectsPerSecond: 2, trustProxy: ['127.0.0.1'], simOptions: { pushIntervalMs: 100, clockSpeed: 60 } });
    await app.ready;
    ws = app.url.replace('http', 'ws');
  });
  afterAll(async () => {
    await app?.stop();
  });

  it('refuses connects from many addresses past the node\'s rate with 503 server_busy before the upgrade, then takes them again (reproduced: 2,000 a second from 250,000 addresses held the event loop 1-2 s)', async () => {
    const statuses: number[] = [];
    let busy: Awaited<ReturnType<typeof upgradeAnswer>> | undefined;
    const t0 = Date.now();
    // Each from an address of its own, each socket closed at once (MAX_CLIENTS never reached).
    for (let i = 0; i < 12 && !busy; i++) {
      const r = await upgradeAnswer(`${ws}/ws/BTCUSDT?interval=1m`, { 'x-forwarded-for': `198.18.0.${i + 1}` });
      statuses.push(r.status);
      if (r.status === 503) busy = r;
    }
    const seconds = (Date.now() - t0) / 1000;
    expect(busy, statuses.join()).toBeDefined();
    expect(JSON.parse(busy!.body)).toMatchObject({ code: 'server_busy', error: expect.stringMatching(/MAX_CONNECTS_PER_SECOND/) });
    expect(busy!.retryAfter).toBe('1');
    const opened = statuses.filter((s) => s === 101).length;
    expect(opened).toBeGreaterThanOrEqual(4);
    expect(opened).toBeLessThanOrEqual(4 + Math.ceil(2 * seconds) + 1);
    app.metrics.render();
    expect(app.metrics.value('engine_ws_connects_refused_total')).toBe(1);
    await new Promise((r) => setTimeout(r, 600));
    expect((await upgradeAnswer(`${ws}/ws/BTCUSDT?interval=1m`, { 'x-forwarded-for': '198.18.1.1' })).status).toBe(101);
  });
});
