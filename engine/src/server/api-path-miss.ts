import { echo } from '../domain/echo.ts';

/** The first path segments of the engine's HTTP API (and `api`, Binance's): never the web client's pages. */
const API_ROOTS = new Set(['candles', 'series', 'symbols', 'health', 'livez', 'readyz', 'metrics', 'api']);

const ROUTES = 'GET /candles/{SYMBOL}/{interval}?limit=&endTime=, /series, /series/{name}/{SYMBOL}/{interval}?limit=&endTime=, /symbols, /health, /livez, /readyz, /metrics';

/**
 * The error for a GET no API route matched under one of the API's roots (`/candles/BTCUSDT`,
 * `/series/rsi`, `/api/v3/klines`), or undefined for any other path. Those were answered with the
 * chart's page, 200 `text/html`, so a script's mistyped path read as HTML it could not parse (a
 * new user's review).
 */
export function apiPathMiss(path: string): string | undefined {
  const root = path.split('/')[1] ?? '';
  return API_ROOTS.has(root) ? `no API route at ${echo(path, 100)}: the routes are ${ROUTES}` : undefined;
}
