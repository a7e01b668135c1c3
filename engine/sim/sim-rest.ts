import type { IncomingMessage, ServerResponse } from 'node:http';
import { bucketOpen, isNativeInterval, nextOpen, parseTimeZone } from '../src/domain/interval.ts';
import type { PriceModel } from './price-model.ts';
import type { SimMarket } from './sim-market.ts';
import { SYMBOL_STATUSES, type SymbolStatus } from './sim-universe.ts';
import { klineRow } from './sim-format.ts';

/** What the REST side shares with the rest of the simulator. */
export interface SimRestContext {
  readonly market: SimMarket;
  readonly model: PriceModel;
  readonly weightLimit: number;
  /** Sim clock (ms). */
  now(): number;
  readonly stats: { restRequests: number; weightUsed: number };
  /** Called for each klines/uiKlines request answered with rows. */
  onKlines?(symbol: string, interval: string, startTime: number | undefined, endTime: number | undefined): void;
}

/** Faults queued for the next REST requests, consumed one per request. */
export interface RestFaultQueue {
  rateLimits: Array<{ status: 429 | 418; retryAfterSec: number }>;
  failures: number[];
  /** While set, requests are left unanswered (an exchange that hangs); each waits here to be served. */
  stalled?: Array<{ path: string; serve: () => void }>;
  /** Only these paths hang (all when undefined). */
  stalledPaths?: ReadonlySet<string>;
}

/** A refusal in Binance's shape: HTTP status plus `{code,msg}`. */
class BinanceReply extends Error {
  constructor(
    readonly status: number,
    readonly code: number,
    msg: string,
  ) {
    super(msg);
    this.name = 'BinanceReply';
  }
}

const ENDPOINTS: Record<string, { weight: number; params: readonly string[] }> = {
  '/api/v3/ping': { weight: 1, params: [] },
  '/api/v3/time': { weight: 1, params: [] },
  '/api/v3/exchangeInfo': { weight: 20, params: ['symbol', 'symbols', 'permissions', 'showPermissionSets', 'symbolStatus'] },
  '/api/v3/klines': { weight: 2, params: ['symbol', 'interval', 'startTime', 'endTime', 'limit', 'timeZone'] },
  '/api/v3/uiKlines': { weight: 2, params: ['symbol', 'interval', 'startTime', 'endTime', 'limit', 'timeZone'] },
};
const SYMBOL_RE = /^[A-Z0-9-_.]{1,20}$/;
const illegal = (name: string, range: string) => new BinanceReply(400, -1100, `Illegal characters found in parameter '${name}'; legal range is '${range}'.`);
const mandatory = (name: string) => new BinanceReply(400, -1102, `Mandatory parameter '${name}' was not sent, was empty/null, or malformed.`);
const invalid = (name: string) => new BinanceReply(400, -1130, `Data sent for parameter '${name}' is not valid.`);

/** Rejects unknown and repeated parameters as Binance does (-1104, -1101). */
function checkParams(q: URLSearchParams, allowed: readonly string[]): void {
  const names = [...q.keys()];
  if (new Set(names).size !== names.length) throw new BinanceReply(400, -1101, 'Duplicate values for a parameter detected.');
  const read = names.filter((n) => allowed.includes(n)).length;
  if (read !== names.length) throw new BinanceReply(400, -1104, `Not all sent parameters were read; read '${read}' parameter(s) but was sent '${names.length}'.`);
}

/** Open times of the rows `GET /klines` returns, by Binance's window rules (startTime <= openTime <= endTime). */
export function selectOpens(opts: {
  interval: string;
  tz: number;
  first: number;
  now: number;
  startTime?: number;
  endTime?: number;
  limit: number;
}): number[] {
  const { interval, tz, first, now, startTime, endTime, limit } = opts;
  const step = (t: number) => (interval === '1s' ? t + 1000 : nextOpen(t, interval, tz));
  const align = (t: number) => (interval === '1s' ? Math.floor(t / 1000) * 1000 : bucketOpen(t, interval, tz));
  const forming = align(now);
  // Nothing after the forming bucket; the bucket holding endTime opens at or before it, so it is in.
  const last = endTime === undefined ? forming : Math.min(forming, align(endTime));
  const opens: number[] = [];
  if (startTime !== undefined) {
    let t = Math.max(first, align(startTime));
    if (t < startTime) t = step(t); // a bucket that began before startTime is left out
    for (; t <= last && opens.length < limit; t = step(t)) opens.push(t);
    return opens;
  }
  // Newest first, walking back one bucket at a time (the bucket holding the millisecond before).
  for (let t = last; t >= first && opens.length < limit; t = align(t - 1)) opens.push(t);
  return opens.reverse();
}

/** The simulator's REST API: ping, time, exchangeInfo, klines and uiKlines, with weights and faults. */
export function createRestHandler(ctx: SimRestContext, faults: RestFaultQueue): (req: IncomingMessage, res: ServerResponse) => void {
  const { model, stats, weightLimit, market } = ctx;
  let weightMinute = -1;

  // The window resets on the UTC clock minute of real time, as Binance's does.
  const charge = (w: number) => {
    const minute = Math.floor(Date.now() / 60_000);
    if (minute !== weightMinute) {
      weightMinute = minute;
      stats.weightUsed = 0;
    }
    stats.weightUsed += w;
  };

  const knownSymbol = (symbol: string) => {
    if (!SYMBOL_RE.test(symbol)) throw illegal('symbol', '^[A-Z0-9-_.]{1,20}$');
    if (!market.has(symbol)) throw new BinanceReply(400, -1121, 'Invalid symbol.');
  };

  const time = (q: URLSearchParams, name: string): number | undefined => {
    const v = q.get(name);
    if (v === null) return undefined;
    if (!/^\d{1,20}$/.test(v)) throw illegal(name, '^[0-9]{1,20}$');
    const n = Number(v);
    return n >= 1e14 ? Math.floor(n / 1000) : n; // microseconds are accepted too
  };

  const klines = (q: URLSearchParams): unknown[] => {
    const symbol = q.get('symbol');
    if (!symbol) throw mandatory('symbol');
    knownSymbol(symbol);
    const interval = q.get('interval');
    if (!interval) throw mandatory('interval');
    if (!isNativeInterval(interval)) throw new BinanceReply(400, -1120, 'Invalid interval.');
    const rawLimit = q.get('limit');
    if (rawLimit !== null && rawLimit.startsWith('-')) throw illegal('limit', '^[0-9]{1,20}$');
    const limit = rawLimit === null ? 500 : Number(rawLimit);
    if (rawLimit === '' || !Number.isInteger(limit) || limit < 1 || limit > 1000) throw invalid('limit');
    const startTime = time(q, 'startTime');
    const endTime = time(q, 'endTime');
    let tz: number;
    try {
      tz = parseTimeZone(q.get('timeZone') ?? undefined);
    } catch {
      throw invalid('timeZone');
    }
    const at = ctx.now();
    const opens = selectOpens({ interval, tz, first: model.firstOpen(interval, tz), now: at, startTime, endTime, limit });
    const rows: unknown[] = [];
    for (const o of opens) {
      const c = model.candle(symbol, interval, o, at, tz);
      if (c) rows.push(klineRow(symbol, interval, c, tz));
    }
    ctx.onKlines?.(symbol, interval, startTime, endTime);
    return rows;
  };

  const exchangeInfo = (q: URLSearchParams) => {
    let list: readonly string[] | undefined;
    const one = q.get('symbol');
    const many = q.get('symbols');
    const status = q.get('symbolStatus');
    if ([one, many, status].filter((p) => p !== null).length > 1) throw new BinanceReply(400, -1128, 'Combination of optional parameters invalid.');
    if (status !== null && !SYMBOL_STATUSES.includes(status as SymbolStatus)) throw new BinanceReply(400, -1122, 'Invalid symbolStatus.');
    if (one !== null) list = [one];
    if (many !== null) {
      let parsed: unknown;
      try {
        parsed = JSON.parse(many);
      } catch {
        throw new BinanceReply(400, -1135, 'Invalid JSON for symbols.');
      }
      if (!Array.isArray(parsed) || !parsed.every((s) => typeof s === 'string')) throw new BinanceReply(400, -1135, 'Invalid JSON for symbols.');
      if (new Set(parsed).size !== parsed.length) throw new BinanceReply(400, -1151, 'Symbol is present multiple times in the list.');
      list = parsed as string[];
    }
    for (const s of list ?? []) knownSymbol(s);
    const entries = list ? list.map((s) => market.entry(s)!) : market.list().filter((e) => status === null || e.status === status);
    return {
      timezone: 'UTC',
      serverTime: ctx.now(),
      rateLimits: [
        { rateLimitType: 'REQUEST_WEIGHT', interval: 'MINUTE', intervalNum: 1, limit: weightLimit },
        { rateLimitType: 'RAW_REQUESTS', interval: 'MINUTE', intervalNum: 5, limit: 300000 },
      ],
      exchangeFilters: [],
      symbols: entries.map((e) => ({ symbol: e.symbol, status: e.status, baseAsset: e.baseAsset, quoteAsset: e.quoteAsset, filters: [] })),
    };
  };

  const answer = (path: string, q: URLSearchParams): unknown => {
    if (path === '/api/v3/ping') return {};
    if (path === '/api/v3/time') return { serverTime: ctx.now() };
    if (path === '/api/v3/exchangeInfo') return exchangeInfo(q);
    return klines(q);
  };

  const serve = (req: IncomingMessage, res: ServerResponse): void => {
    stats.restRequests++;
    const url = new URL(req.url ?? '/', 'http://sim');
    const send = (status: number, body: unknown, headers: Record<string, string> = {}) => {
      const used = String(stats.weightUsed);
      res.writeHead(status, { 'content-type': 'application/json;charset=UTF-8', 'x-mbx-used-weight-1m': used, 'x-mbx-used-weight': used, ...headers });
      res.end(JSON.stringify(body));
    };
    const endpoint = req.method === 'GET' || req.method === 'HEAD' ? ENDPOINTS[url.pathname] : undefined;
    if (!endpoint) return send(404, { code: -1, msg: `Unknown path ${req.method} ${url.pathname}` });
    charge(endpoint.weight); // refused requests are charged too
    const limited = faults.rateLimits.shift();
    if (limited) {
      const msg =
        limited.status === 418
          ? `Way too much request weight used; IP banned until ${Date.now() + limited.retryAfterSec * 1000}. Please use WebSocket Streams for live updates to avoid bans.`
          : `Too much request weight used; current limit is ${weightLimit} request weight per 1 MINUTE. Please use WebSocket Streams for live updates to avoid polling the API.`;
      return send(limited.status, { code: -1003, msg }, { 'retry-after': String(limited.retryAfterSec) });
    }
    if (stats.weightUsed > weightLimit) {
      const retryAfter = Math.ceil((60_000 - (Date.now() % 60_000)) / 1000);
      return send(429, { code: -1003, msg: `Too much request weight used; current limit is ${weightLimit} request weight per 1 MINUTE.` }, { 'retry-after': String(retryAfter) });
    }
    const failure = faults.failures.shift();
    if (failure !== undefined) {
      const body = failure === 503 ? { code: -1008, msg: 'Server is currently overloaded with other requests. Please try again in a few minutes.' } : { code: -1000, msg: 'An unknown error occurred while processing the request.' };
      return send(failure, body);
    }
    try {
      checkParams(url.searchParams, endpoint.params);
      return send(200, answer(url.pathname, url.searchParams));
    } catch (e) {
      if (e instanceof BinanceReply) return send(e.status, { code: e.code, msg: e.message });
      return send(500, { code: -1000, msg: (e as Error).message });
    }
  };
  return (req, res) => {
    const path = faults.stalled && new URL(req.url ?? '/', 'http://sim').pathname;
    if (path && (!faults.stalledPaths || faults.stalledPaths.has(path))) faults.stalled!.push({ path, serve: () => serve(req, res) });
    else serve(req, res);
  };
}
