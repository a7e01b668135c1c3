import { MAJOR_USD_PRICES, quoteOf, QUOTE_USD, symbolSpec } from './symbol-spec.ts';

/** Binance's symbol status enum. */
export type SymbolStatus = 'TRADING' | 'END_OF_DAY' | 'HALT' | 'BREAK' | 'CANCEL_ONLY';
export const SYMBOL_STATUSES: readonly SymbolStatus[] = ['TRADING', 'END_OF_DAY', 'HALT', 'BREAK', 'CANCEL_ONLY'];

export interface MarketEntry {
  symbol: string;
  baseAsset: string;
  quoteAsset: string;
  status: SymbolStatus;
}

/** Default number of TRADING symbols; about one in 300 more are generated in status BREAK. */
export const DEFAULT_UNIVERSE_SIZE = 1500;

/** Quotes of generated pairs with how often a base asset gets one (USDT always). */
const QUOTE_ODDS: ReadonlyArray<readonly [string, number]> = [
  ['USDC', 0.5],
  ['TRY', 0.35],
  ['FDUSD', 0.3],
  ['BTC', 0.25],
  ['ETH', 0.08],
  ['BNB', 0.08],
  ['EUR', 0.06],
  ['BRL', 0.04],
  ['JPY', 0.02],
];
/** Quotes the majors also trade against, besides USDT. */
const MAJOR_QUOTES = ['USDC', 'FDUSD', 'TRY', 'EUR', 'BTC', 'ETH', 'BNB'];
const ONSETS = ['B', 'C', 'D', 'F', 'G', 'H', 'J', 'K', 'L', 'M', 'N', 'P', 'R', 'S', 'T', 'V', 'W', 'X', 'Z', 'BR', 'DR', 'FL', 'GR', 'KR', 'PL', 'QU', 'ST', 'TR', 'ZH'];
const VOWELS = ['A', 'E', 'I', 'O', 'U', 'Y', 'AI', 'EO'];
const CODAS = ['', '', '', 'N', 'X', 'R', 'S', 'K', 'M', 'T'];

/** Mulberry32: a small seeded generator, so the universe is a function of the seed. */
function random(seed: number): () => number {
  let a = (seed ^ 0x5f3759df) >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A pair is listed only where its price has at least 10,000 ticks (a 1e-9 BTC price would not trade). */
function listable(base: string, quote: string): boolean {
  const spec = symbolSpec(base + quote);
  return spec.base / spec.tick >= 10_000;
}

/**
 * The simulated exchange's markets, deterministic from the seed: the real majors first (their USDT
 * pairs in the order of DEFAULT_SIM_SYMBOLS, then their other quotes), then plausible generated
 * names over USDT, USDC, FDUSD, TRY, BTC, ETH, BNB, EUR, BRL and JPY, until `size` are TRADING;
 * then about one in 300 more in status BREAK. Only names are made here; prices are computed lazily.
 */
export function buildUniverse(seed: number, size = DEFAULT_UNIVERSE_SIZE): MarketEntry[] {
  if (!Number.isInteger(size) || size < 1) throw new TypeError(`buildUniverse: size must be a positive integer, got ${size}`);
  const breaks = Math.max(1, Math.round(size / 300));
  const out: MarketEntry[] = [];
  const taken = new Set<string>();
  const add = (baseAsset: string, quoteAsset: string, status: SymbolStatus = out.length < size ? 'TRADING' : 'BREAK'): void => {
    const symbol = baseAsset + quoteAsset;
    if (out.length >= size + breaks || taken.has(symbol) || symbol.length > 20) return;
    taken.add(symbol);
    out.push({ symbol, baseAsset, quoteAsset, status });
  };
  const majors = Object.keys(MAJOR_USD_PRICES);
  for (const base of majors) add(base, 'USDT');
  for (const quote of MAJOR_QUOTES) for (const base of majors) if (base !== quote && listable(base, quote)) add(base, quote);

  const rnd = random(seed);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)]!;
  const bases = new Set(majors);
  while (out.length < size + breaks) {
    let name = '';
    const r = rnd();
    const syllables = r < 0.4 ? 1 : r < 0.9 ? 2 : 3;
    for (let i = 0; i < syllables; i++) name += pick(ONSETS) + pick(VOWELS);
    name += pick(CODAS);
    if (rnd() < 0.03) name = `1000${name.slice(0, 4)}`;
    if (name.length < 3 || name.length > 7 || bases.has(name) || QUOTE_USD[name] !== undefined) continue;
    bases.add(name);
    if (!listable(name, 'USDT')) continue;
    add(name, 'USDT');
    for (const [quote, odds] of QUOTE_ODDS) if (rnd() < odds && listable(name, quote)) add(name, quote);
  }
  return out;
}

/** Markets for an explicit symbol list (SimOptions.symbols): all TRADING, assets split at a known quote. */
export function marketsOf(symbols: readonly string[]): MarketEntry[] {
  return symbols.map((symbol) => {
    const quoteAsset = quoteOf(symbol) ?? symbol.slice(-3);
    return { symbol, baseAsset: symbol.slice(0, symbol.length - quoteAsset.length), quoteAsset, status: 'TRADING' };
  });
}
