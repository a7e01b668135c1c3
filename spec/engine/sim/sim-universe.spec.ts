import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_SIM_SYMBOLS, symbolSpec } from '../../../engine/sim/price-model.ts';
import { type SimExchange, startSimExchange } from '../../../engine/sim/sim-exchange.ts';
import { buildUniverse, type MarketEntry } from '../../../engine/sim/sim-universe.ts';
import { StreamClient, sleep } from './stream-client.ts';

interface InfoEntry {
  symbol: string;
  status: string;
  baseAsset: string;
  quoteAsset: string;
}
const QUOTES = ['USDT', 'USDC', 'FDUSD', 'TRY', 'EUR', 'BRL', 'JPY', 'BTC', 'ETH', 'BNB'];

async function get(sim: SimExchange, path: string): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await fetch(`${sim.restUrl}${path}`);
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

describe('the generated universe', () => {
  it('1,500 TRADING symbols by default, majors first, then plausible names over many quotes, and about 5 in BREAK', () => {
    const u = buildUniverse(1);
    const trading = u.filter((e) => e.status === 'TRADING');
    const breaks = u.filter((e) => e.status === 'BREAK');
    expect(trading).toHaveLength(1500);
    expect(breaks).toHaveLength(5);
    expect(trading.slice(0, DEFAULT_SIM_SYMBOLS.length).map((e) => e.symbol)).toEqual(DEFAULT_SIM_SYMBOLS);
    expect(new Set(u.map((e) => e.symbol)).size).toBe(u.length);
    for (const e of u) {
      expect(e.symbol).toMatch(/^[A-Z0-9]{5,20}$/);
      expect(e.baseAsset + e.quoteAsset).toBe(e.symbol);
      expect(QUOTES).toContain(e.quoteAsset);
      // Every listed pair quotes at least 10,000 ticks: prices move in steps, not jumps.
      const spec = symbolSpec(e.symbol);
      expect(spec.base / spec.tick).toBeGreaterThanOrEqual(10_000);
    }
    const byQuote = new Map<string, number>();
    for (const e of trading) byQuote.set(e.quoteAsset, (byQuote.get(e.quoteAsset) ?? 0) + 1);
    for (const q of QUOTES) expect(byQuote.get(q), q).toBeGreaterThan(5);
    expect(u.map((e) => e.symbol)).toEqual(expect.arrayContaining(['ETHBTC', 'BTCUSDC', 'BTCFDUSD', 'BTCTRY', 'BNBETH']));
  });

  it('keeps the majors at their levels; a cross pair is priced from its two USD levels', () => {
    expect(symbolSpec('BTCUSDT')).toMatchObject({ base: 64000, decimals: 2 });
    expect(symbolSpec('DOGEUSDT')).toMatchObject({ base: 0.12, decimals: 5 });
    expect(symbolSpec('AVAXUSDT')).toMatchObject({ base: 28, decimals: 4 });
    expect(symbolSpec('ETHBTC').base).toBeCloseTo(3200 / 64000, 10);
    expect(symbolSpec('BTCTRY').base).toBeCloseTo(64000 * 34, 4);
  });

  it('is a function of the seed and the size', () => {
    const names = (u: MarketEntry[]) => u.map((e) => `${e.symbol}:${e.status}`);
    expect(names(buildUniverse(7))).toEqual(names(buildUniverse(7)));
    expect(names(buildUniverse(8))).not.toEqual(names(buildUniverse(7)));
    const small = buildUniverse(7, 300);
    expect(small.filter((e) => e.status === 'TRADING')).toHaveLength(300);
    expect(small.filter((e) => e.status === 'BREAK')).toHaveLength(1);
    expect(() => buildUniverse(1, 0)).toThrow(TypeError);
  });
});

describe('simulated exchange over its universe', () => {
  let sim: SimExchange;
  const clients: StreamClient[] = [];
  beforeAll(async () => {
    sim = await startSimExchange({ universeSize: 300, seed: 5, pushIntervalMs: 50, clockSpeed: 60 });
  });
  afterEach(() => {
    for (const c of clients.splice(0)) c.close();
  });
  afterAll(async () => {
    await sim?.close();
  });

  it('exchangeInfo lists every market with status, baseAsset and quoteAsset; sim.symbols is the TRADING list', async () => {
    const { status, body } = await get(sim, '/api/v3/exchangeInfo');
    expect(status).toBe(200);
    const entries = body.symbols as InfoEntry[];
    expect(entries).toHaveLength(301);
    expect(entries.map(({ symbol, status: s, baseAsset, quoteAsset }) => ({ symbol, status: s, baseAsset, quoteAsset }))).toEqual(sim.market.list());
    expect(sim.symbols).toEqual(entries.filter((e) => e.status === 'TRADING').map((e) => e.symbol));
    expect(sim.symbols).toHaveLength(300);
  });

  it('exchangeInfo takes symbol, symbols and symbolStatus as Binance does', async () => {
    const broken = sim.market.list().find((e) => e.status === 'BREAK')!;
    const only = await get(sim, `/api/v3/exchangeInfo?symbolStatus=BREAK`);
    expect((only.body.symbols as InfoEntry[]).map((e) => e.symbol)).toEqual([broken.symbol]);
    const one = await get(sim, `/api/v3/exchangeInfo?symbol=${broken.symbol}`);
    expect(one.body.symbols).toEqual([{ symbol: broken.symbol, status: 'BREAK', baseAsset: broken.baseAsset, quoteAsset: broken.quoteAsset, filters: [] }]);
    const many = await get(sim, `/api/v3/exchangeInfo?symbols=${encodeURIComponent(JSON.stringify([sim.symbols[250], 'ETHUSDT']))}`);
    expect((many.body.symbols as InfoEntry[]).map((e) => e.symbol)).toEqual([sim.symbols[250], 'ETHUSDT']);
    expect(await get(sim, '/api/v3/exchangeInfo?symbol=NOPEUSDT')).toMatchObject({ status: 400, body: { code: -1121, msg: 'Invalid symbol.' } });
    expect(await get(sim, '/api/v3/exchangeInfo?symbolStatus=SLEEPING')).toMatchObject({ status: 400, body: { code: -1122 } });
    expect(await get(sim, '/api/v3/exchangeInfo?symbol=BTCUSDT&symbolStatus=TRADING')).toMatchObject({ status: 400, body: { code: -1128 } });
  });

  it('serves klines for any listed symbol, a BREAK one included, at its own tick size', async () => {
    const generated = sim.market.list().find((e) => e.quoteAsset === 'BTC' && !['ETH', 'BNB', 'SOL'].includes(e.baseAsset) && e.status === 'TRADING')!;
    const broken = sim.market.list().find((e) => e.status === 'BREAK')!;
    for (const symbol of [generated.symbol, broken.symbol]) {
      const { status, body } = await get(sim, `/api/v3/klines?symbol=${symbol}&interval=1h&limit=3`);
      expect(status).toBe(200);
      const rows = body as unknown as string[][];
      expect(rows).toHaveLength(3);
      expect(rows[0]![1]).toMatch(new RegExp(`^\\d+\\.\\d{${symbolSpec(symbol).decimals}}$`));
    }
  });

  it('setStatus: exchangeInfo and sim.symbols follow; a non-trading symbol stops pushing, keeps its subscription and its REST history', async () => {
    const c = new StreamClient(`${sim.wsUrl}/stream?streams=btcusdt@kline_1m/ethusdt@kline_1m`);
    clients.push(c);
    await c.until(() => c.klines('ethusdt@kline_1m').length > 0 && c.klines('btcusdt@kline_1m').length > 0, 3000, 'both streams');
    sim.market.setStatus('ETHUSDT', 'BREAK');
    expect(sim.market.status('ETHUSDT')).toBe('BREAK');
    expect(sim.symbols).not.toContain('ETHUSDT');
    expect(((await get(sim, '/api/v3/exchangeInfo?symbol=ETHUSDT')).body.symbols as InfoEntry[])[0]!.status).toBe('BREAK');
    await sleep(100); // a push in flight may land
    const eth = c.klines('ethusdt@kline_1m').length;
    const btc = c.klines('btcusdt@kline_1m').length;
    await c.until(() => c.klines('btcusdt@kline_1m').length >= btc + 5, 3000, 'btc frames go on');
    expect(c.klines('ethusdt@kline_1m')).toHaveLength(eth);
    c.send({ method: 'LIST_SUBSCRIPTIONS', id: 1 });
    expect(await c.reply(1)).toEqual({ result: ['btcusdt@kline_1m', 'ethusdt@kline_1m'], id: 1 });
    expect((await get(sim, '/api/v3/klines?symbol=ETHUSDT&interval=1m&limit=10')).status).toBe(200);

    sim.market.setStatus('ETHUSDT', 'TRADING');
    expect(sim.symbols).toContain('ETHUSDT');
    await c.until(() => c.klines('ethusdt@kline_1m').length > eth, 3000, 'eth frames again');
    expect(() => sim.market.setStatus('NOPEUSDT', 'BREAK')).toThrow(/unknown symbol/);
    expect(() => sim.market.setStatus('ETHUSDT', 'ASLEEP' as never)).toThrow(/status must be one of/);
  });

  it('SimOptions.symbols still overrides the universe: exactly those, all TRADING', async () => {
    const own = await startSimExchange({ symbols: ['btcusdt', 'ETHBTC', 'PEPEUSDT'] });
    try {
      expect(own.symbols).toEqual(['BTCUSDT', 'ETHBTC', 'PEPEUSDT']);
      const entries = (await get(own, '/api/v3/exchangeInfo')).body.symbols as InfoEntry[];
      expect(entries.map((e) => [e.symbol, e.baseAsset, e.quoteAsset, e.status])).toEqual([
        ['BTCUSDT', 'BTC', 'USDT', 'TRADING'],
        ['ETHBTC', 'ETH', 'BTC', 'TRADING'],
        ['PEPEUSDT', 'PEPE', 'USDT', 'TRADING'],
      ]);
    } finally {
      await own.close();
    }
  });
});
