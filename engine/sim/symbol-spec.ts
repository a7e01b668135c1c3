/** Price levels of the simulator's symbols: a pure function of the name, computed once per symbol on first use. */

/** The majors' USDT levels (the default symbols, in this order). */
const MAJORS: Record<string, number> = {
  BTCUSDT: 64000, ETHUSDT: 3200, BNBUSDT: 580, SOLUSDT: 145, XRPUSDT: 0.52, ADAUSDT: 0.45, DOGEUSDT: 0.12,
  TRXUSDT: 0.12, AVAXUSDT: 28, DOTUSDT: 6.5, LINKUSDT: 14, MATICUSDT: 0.7, LTCUSDT: 75, BCHUSDT: 380,
  ATOMUSDT: 7.5, UNIUSDT: 8.5, XLMUSDT: 0.1, ETCUSDT: 24, FILUSDT: 4.8, NEARUSDT: 5.2,
};
export const DEFAULT_SIM_SYMBOLS = Object.keys(MAJORS);
/** USD price of each major base asset. */
export const MAJOR_USD_PRICES: Record<string, number> = Object.fromEntries(Object.entries(MAJORS).map(([s, p]) => [s.slice(0, -4), p]));

/** What one unit of a quote asset is worth in USD. */
export const QUOTE_USD: Record<string, number> = {
  USDT: 1, USDC: 1, FDUSD: 1, TRY: 1 / 34, EUR: 1.08, BRL: 0.2, JPY: 1 / 150, BTC: 64000, ETH: 3200, BNB: 580,
};
/** Longest first, so FDUSD wins over a shorter suffix. */
const QUOTES = Object.keys(QUOTE_USD).sort((a, b) => b.length - a.length);

export interface SymbolSpec {
  /** Price level in quote units. */
  base: number;
  tick: number;
  decimals: number;
}

export function symbolCode(symbol: string): number {
  let h = 2166136261;
  for (let i = 0; i < symbol.length; i++) h = Math.imul(h ^ symbol.charCodeAt(i), 16777619) >>> 0;
  return h;
}

/** The quote asset a symbol ends with, if it is one the simulator knows. */
export function quoteOf(symbol: string): string | undefined {
  return QUOTES.find((q) => symbol.length > q.length && symbol.endsWith(q));
}

/** A base asset's USD price: the majors' own, else log-uniform from 3e-4 to 1e3 by the name's hash. */
function usdPrice(baseAsset: string): number {
  const major = MAJOR_USD_PRICES[baseAsset];
  if (major !== undefined) return major;
  const u = symbolCode(`asset:${baseAsset}`) / 4294967296;
  return Number((10 ** (u * 6.5 - 3.5)).toPrecision(4));
}

function compute(symbol: string): SymbolSpec {
  const major = MAJORS[symbol];
  const quote = major === undefined ? quoteOf(symbol) : 'USDT';
  // A name with no known quote keeps the old rule: a level from 1 to 51 by its hash.
  const base = major ?? (quote ? usdPrice(symbol.slice(0, -quote.length)) / QUOTE_USD[quote]! : 1 + (symbolCode(symbol) % 5000) / 100);
  // At least 10,000 ticks below 1 (five significant digits, as Binance lists them), at most 8 decimals.
  const decimals = base >= 100 ? 2 : base >= 1 ? 4 : Math.min(8, Math.max(5, Math.ceil(4 - Math.log10(base))));
  return { base, tick: 10 ** -decimals, decimals };
}

const specs = new Map<string, SymbolSpec>();

/** Price scale of a symbol: base level and tick size (memoized: it is read for every price string). */
export function symbolSpec(symbol: string): SymbolSpec {
  let s = specs.get(symbol);
  if (!s) {
    s = compute(symbol);
    // Bounded: names come from clients too (any well-formed unknown symbol's stream is parsed).
    if (specs.size >= 100_000) specs.clear();
    specs.set(symbol, s);
  }
  return s;
}
