import type { Market } from '../feed/wire.ts';

/** Quote assets tried, longest first, when the engine gives symbols without base/quote. */
const QUOTES = ['FDUSD', 'USDT', 'USDC', 'TUSD', 'BUSD', 'DAI', 'BTC', 'ETH', 'BNB', 'TRY', 'EUR', 'BRL', 'JPY', 'GBP', 'AUD', 'RUB', 'UAH', 'ZAR', 'PLN', 'ARS', 'MXN', 'COP', 'IDR', 'XRP', 'DOGE', 'TRX', 'SOL'];

/** A symbol's base and quote: from the engine's markets when known, else by its quote suffix. */
export function splitSymbol(symbol: string): Market {
  const q = QUOTES.find((x) => symbol.endsWith(x) && symbol.length > x.length);
  return q ? { symbol, base: symbol.slice(0, -q.length), quote: q } : { symbol, base: symbol, quote: '' };
}

export interface PickerEntry extends Market {
  /** Run always by the engine (others are started on demand). */
  configured: boolean;
}

/** Every symbol with base/quote (markets first, then any symbol the markets list lacks). */
export function pickerEntries(symbols: readonly string[], markets: readonly Market[], configured: readonly string[]): PickerEntry[] {
  const conf = new Set(configured);
  const seen = new Set<string>();
  const out: PickerEntry[] = [];
  for (const m of markets) {
    if (seen.has(m.symbol)) continue;
    seen.add(m.symbol);
    out.push({ ...m, configured: conf.has(m.symbol) });
  }
  for (const s of [...symbols, ...configured]) {
    if (seen.has(s)) continue;
    seen.add(s);
    out.push({ ...splitSymbol(s), configured: conf.has(s) });
  }
  return out;
}

/**
 * Entries matching a search by name, base or quote (`pepe`, `usdc`, `btc/usdt`), best first: the exact
 * symbol, then an exact base, symbols and bases starting with it, an exact quote, then any symbol
 * containing it; configured ones first within each rank, then by name. Linear in the entries.
 */
export function searchMarkets(entries: readonly PickerEntry[], query: string): PickerEntry[] {
  const q = query.trim().toUpperCase().replace(/[\s/_-]+/g, '');
  if (!q) return [...entries].sort((a, b) => Number(b.configured) - Number(a.configured) || a.symbol.localeCompare(b.symbol));
  const ranked: Array<[number, PickerEntry]> = [];
  for (const e of entries) {
    let r = -1;
    if (e.symbol === q) r = 0;
    else if (e.base === q) r = 1;
    else if (e.symbol.startsWith(q)) r = 2;
    else if (e.base.startsWith(q)) r = 3;
    else if (e.quote === q) r = 4;
    else if (e.symbol.includes(q)) r = 5;
    if (r >= 0) ranked.push([r, e]);
  }
  ranked.sort((a, b) => a[0] - b[0] || Number(b[1].configured) - Number(a[1].configured) || a[1].symbol.localeCompare(b[1].symbol));
  return ranked.map(([, e]) => e);
}
