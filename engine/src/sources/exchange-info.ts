import { BinanceRestError } from '../domain/errors.ts';
import { isValidSymbol } from '../domain/series-id.ts';
import type { BinanceRest } from './binance-rest.ts';

/** A spot market as the picker shows it: the symbol and its base and quote assets. */
export interface Market {
  readonly symbol: string;
  readonly base: string;
  readonly quote: string;
}

/** Weight of `GET /api/v3/exchangeInfo` without a symbol filter. */
export const EXCHANGE_INFO_WEIGHT = 20;

/**
 * The TRADING markets of an `exchangeInfo` body. Entries in any other status (BREAK, HALT, END_OF_DAY…)
 * are left out, and so is anything malformed or with a name that could not be a symbol (it would
 * never become a key or a topic); the count of those comes back as `skipped`.
 */
export function parseExchangeInfo(body: unknown): { markets: Market[]; skipped: number } {
  const list = typeof body === 'object' && body !== null ? (body as { symbols?: unknown }).symbols : undefined;
  if (!Array.isArray(list)) throw new TypeError('exchangeInfo: body has no symbols array');
  const markets: Market[] = [];
  let skipped = 0;
  for (const e of list as unknown[]) {
    const r = (typeof e === 'object' && e !== null ? e : {}) as Record<string, unknown>;
    const { symbol, status, baseAsset, quoteAsset } = r;
    if (typeof symbol !== 'string' || typeof baseAsset !== 'string' || typeof quoteAsset !== 'string' || !isValidSymbol(symbol)) {
      skipped++;
      continue;
    }
    if (status === 'TRADING') markets.push({ symbol, base: baseAsset, quote: quoteAsset });
  }
  return { markets, skipped };
}

/** Asks the exchange for its markets (one call, weight 20); the REST client retries 5xx and waits out 429. */
export async function fetchMarkets(rest: BinanceRest, signal?: AbortSignal): Promise<{ markets: Market[]; skipped: number }> {
  return parseExchangeInfo(await rest.get('/api/v3/exchangeInfo', {}, EXCHANGE_INFO_WEIGHT, signal));
}

const QUOTES = ['FDUSD', 'USDT', 'USDC', 'TUSD', 'BUSD', 'DAI', 'BTC', 'ETH', 'BNB', 'EUR', 'TRY', 'BRL', 'JPY', 'GBP', 'AUD', 'USD'];

/** Base and quote guessed from the name, for a symbol the exchange did not describe (a replay's). */
export function guessMarket(symbol: string): Market {
  const quote = QUOTES.find((q) => symbol.endsWith(q) && symbol.length > q.length) ?? '';
  return { symbol, base: quote ? symbol.slice(0, -quote.length) : symbol, quote };
}

/** One symbol's status on the exchange (`TRADING`, `BREAK`…); undefined when it no longer knows the symbol (-1121). */
export async function fetchSymbolStatus(rest: BinanceRest, symbol: string, signal?: AbortSignal): Promise<string | undefined> {
  try {
    const body = (await rest.get('/api/v3/exchangeInfo', { symbol }, EXCHANGE_INFO_WEIGHT, signal)) as { symbols?: Array<{ symbol?: unknown; status?: unknown }> };
    const entry = body?.symbols?.find((e) => e?.symbol === symbol);
    return typeof entry?.status === 'string' ? entry.status : undefined;
  } catch (e) {
    if (e instanceof BinanceRestError && e.info.code === -1121) return undefined;
    throw e;
  }
}
