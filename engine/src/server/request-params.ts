import { echo } from '../domain/echo.ts';

/** Validation of what a client sends; each failure is a message naming the valid choices. */
export interface Catalog {
  symbols(): readonly string[];
  intervals(): readonly string[];
  /** A constant-time membership test when the list is long (the whole exchange). */
  isTrading?(symbol: string): boolean;
}

/** `code` is the wire error code when there is one (`symbol_not_trading`). */
export type Checked<T> = { ok: true; value: T } | { ok: false; error: string; code?: string };

/** Lists longer than this are not spelled out in an error message. */
const MAX_LISTED_SYMBOLS = 30;

/** `&`-separated parts a query may have; the routes take a handful. */
export const MAX_QUERY_PARTS = 100;

/**
 * The query's parameters, each given once: a repeated one (`?series=a&series=b`) is refused, by name.
 * `text`: the query as sent (without `?`; uWS gives undefined for none). One of more than
 * MAX_QUERY_PARTS parts is refused: the parser (querystring's) keeps the first 1,000 and drops the
 * rest unsaid, so `?` + 1,000 `&` + `endTime=1` was answered the latest page, `interval=bogus`
 * served 1m (an attacker-style probe).
 */
export function singleQuery(raw: Record<string, unknown>, text: string | undefined): Checked<Record<string, string | undefined>> {
  if ((text ?? '').split('&', MAX_QUERY_PARTS + 1).length > MAX_QUERY_PARTS) return { ok: false, error: `too many query parameters (at most ${MAX_QUERY_PARTS})` };
  for (const [k, v] of Object.entries(raw)) {
    if (v !== undefined && typeof v !== 'string') return { ok: false, error: `parameter '${echo(k, 40)}' given more than once` };
  }
  return { ok: true, value: raw as Record<string, string | undefined> };
}

/** A symbol as a client may write it: letters, digits, and Binance's `-_.` after the first (upper-cased here), at most this long. */
const SYMBOL_TEXT_RE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,31}$/;

/** A path segment as sent: percent-decoded (`BTC%55SDT` is BTCUSDT), or as is when it does not decode. */
function pathSegment(raw: string): string {
  if (!raw.includes('%')) return raw;
  try {
    return decodeURIComponent(raw);
  } catch {
    return raw;
  }
}

export function checkSeries(catalog: Catalog, rawSymbol: string, rawInterval: string | undefined): Checked<{ symbol: string; interval: string }> {
  const text = pathSegment(rawSymbol);
  // ASCII before upper-casing: `ſolusdt` (a long s) upper-cased is SOLUSDT.
  const symbol = SYMBOL_TEXT_RE.test(text) ? text.toUpperCase() : '';
  const interval = rawInterval === undefined || rawInterval === '' ? '1m' : rawInterval;
  if (!symbol || !(catalog.isTrading ? catalog.isTrading(symbol) : catalog.symbols().includes(symbol))) {
    const all = catalog.symbols();
    const valid = all.length <= MAX_LISTED_SYMBOLS ? `valid symbols: ${all.join(', ')}` : `not a trading symbol on the exchange (GET /symbols lists all ${all.length})`;
    return { ok: false, code: 'symbol_not_trading', error: `unknown symbol '${echo(text, 40)}'; ${valid}` };
  }
  if (!catalog.intervals().includes(interval)) {
    return { ok: false, error: `unknown interval '${echo(interval, 20)}'; valid intervals: ${catalog.intervals().join(', ')}` };
  }
  return { ok: true, value: { symbol, interval } };
}

export function checkLimit(raw: string | undefined, def: number, max: number): Checked<number> {
  if (raw === undefined || raw === '') return { ok: true, value: def };
  if (!/^\d+$/.test(raw) || Number(raw) < 1 || Number(raw) > max) {
    return { ok: false, error: `invalid limit '${echo(raw, 20)}': expected an integer from 1 to ${max}` };
  }
  return { ok: true, value: Number(raw) };
}

export function checkTime(name: string, raw: string | undefined): Checked<number | undefined> {
  if (raw === undefined || raw === '') return { ok: true, value: undefined };
  // Up to the last time a Date holds (8.64e15 ms), not beyond.
  if (!/^\d{1,16}$/.test(raw) || Number(raw) > 8.64e15) return { ok: false, error: `invalid ${name} '${echo(raw, 20)}': expected epoch milliseconds` };
  return { ok: true, value: Number(raw) };
}


/**
 * A page of one series' bars, `/:symbol/:interval?endTime=&limit=`: the series, the newest open time
 * wanted (none: the latest) and how many (500 unless asked, at most `maxLimit`). The first failure wins.
 */
export function checkPage(
  catalog: Catalog,
  path: { symbol?: string; interval?: string },
  query: { endTime?: string; limit?: string },
  maxLimit: number,
): Checked<{ symbol: string; interval: string; endTime: number | undefined; limit: number }> {
  // Both path segments decoded alike (`%31m` is 1m, as `BTC%55SDT` is BTCUSDT: an attacker-style probe).
  const checked = checkSeries(catalog, path.symbol ?? '', path.interval === undefined ? undefined : pathSegment(path.interval));
  if (!checked.ok) return checked;
  const limit = checkLimit(query.limit, 500, maxLimit);
  if (!limit.ok) return limit;
  const endTime = checkTime('endTime', query.endTime);
  if (!endTime.ok) return endTime;
  return { ok: true, value: { ...checked.value, endTime: endTime.value, limit: limit.value } };
}
