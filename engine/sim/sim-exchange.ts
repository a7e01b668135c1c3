import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { WebSocket, WebSocketServer } from 'ws';
import type { Bar } from '../src/domain/bar.ts';
import { bucketOpen, isNativeInterval, nextOpen, parseTimeZone } from '../src/domain/interval.ts';
import { DEFAULT_SIM_SYMBOLS, PriceModel } from './price-model.ts';
import { klineEvent, klineRow, toBar } from './sim-format.ts';

export interface SimOptions {
  host?: string;
  port?: number;
  seed?: number;
  symbols?: string[];
  pushIntervalMs?: number;
  clockSpeed?: number;
  clockStart?: number;
  listedSince?: number;
  pingIntervalMs?: number;
  weightLimitPerMinute?: number;
}

export interface SimExchange {
  readonly restUrl: string;
  readonly wsUrl: string;
  readonly symbols: readonly string[];
  now(): number;
  truth(symbol: string, interval: string, fromOpen: number, toOpen: number): Bar[];
  readonly faults: {
    dropConnections(): void;
    refuseConnections(ms: number): void;
    pauseStream(): void;
    resumeStream(): void;
    omitFinals(n: number): void;
    delayFinals(ms: number): void;
    rateLimit(opts: { status: 429 | 418; retryAfterSec: number; requests: number }): void;
    failRest(opts: { status: number; requests: number }): void;
    sendMalformed(n: number): void;
    serverShutdown(closeAfterMs?: number): void;
  };
  readonly stats: { restRequests: number; weightUsed: number; wsConnectAttempts: number; wsOpenConnections: number; framesSent: number };
  close(): Promise<void>;
}

const STREAM_RE = /^([a-z0-9]{2,20})@kline_(1s|1m|3m|5m|15m|30m|1h|2h|4h|6h|8h|12h|1d|3d|1w|1M)$/;
const MAX_STREAMS = 1024;
const WEIGHTS: Record<string, number> = { '/api/v3/ping': 1, '/api/v3/time': 1, '/api/v3/exchangeInfo': 20, '/api/v3/klines': 2, '/api/v3/uiKlines': 2 };
const KLINE_PARAMS = new Set(['symbol', 'interval', 'startTime', 'endTime', 'limit', 'timeZone']);

class BinanceError extends Error {
  constructor(
    readonly status: number,
    readonly code: number,
    msg: string,
  ) {
    super(msg);
  }
}

interface Conn {
  ws: WebSocket;
  streams: Set<string>;
  combined: boolean;
}

/** A Binance-compatible exchange on loopback: REST klines and kline streams with fault injection. */
export async function startSimExchange(opts: SimOptions = {}): Promise<SimExchange> {
  const host = opts.host ?? '127.0.0.1';
  const symbols = (opts.symbols?.length ? opts.symbols : DEFAULT_SIM_SYMBOLS).map((s) => s.toUpperCase());
  const symbolSet = new Set(symbols);
  const pushMs = opts.pushIntervalMs ?? 2000;
  const speed = opts.clockSpeed ?? 1;
  const realStart = Date.now();
  const simStart = opts.clockStart ?? realStart;
  const now = () => Math.floor(simStart + (Date.now() - realStart) * speed);
  const model = new PriceModel(opts.seed ?? 1, opts.listedSince ?? Date.UTC(2019, 0, 1));
  const weightLimit = opts.weightLimitPerMinute ?? 6000;

  const stats = { restRequests: 0, weightUsed: 0, wsConnectAttempts: 0, wsOpenConnections: 0, framesSent: 0 };
  let weightMinute = -1;
  let refuseUntil = 0;
  let paused = false;
  let omitFinalsLeft = 0;
  const omitted = new Map<string, number>();
  let finalDelayMs = 0;
  const rateLimits: Array<{ status: 429 | 418; retryAfterSec: number }> = [];
  const restFailures: number[] = [];
  const timers = new Set<NodeJS.Timeout>();
  const later = (ms: number, fn: () => void) => {
    const t = setTimeout(() => {
      timers.delete(t);
      fn();
    }, ms);
    timers.add(t);
  };

  // --- REST ------------------------------------------------------------------------------------
  const chargeWeight = (w: number) => {
    const minute = Math.floor(Date.now() / 60_000);
    if (minute !== weightMinute) {
      weightMinute = minute;
      stats.weightUsed = 0;
    }
    stats.weightUsed += w;
  };

  const klines = (q: URLSearchParams): unknown[] => {
    for (const k of q.keys()) if (!KLINE_PARAMS.has(k)) throw new BinanceError(400, -1104, `Not all sent parameters were read; read '${[...q.keys()].filter((x) => KLINE_PARAMS.has(x)).length}' parameter(s) but was sent '${[...q.keys()].length}'.`);
    const symbol = q.get('symbol');
    if (!symbol) throw new BinanceError(400, -1102, "Mandatory parameter 'symbol' was not sent, was empty/null, or malformed.");
    if (!/^[A-Z0-9-_.]{1,20}$/.test(symbol)) throw new BinanceError(400, -1100, "Illegal characters found in parameter 'symbol'; legal range is '^[A-Z0-9-_.]{1,20}$'.");
    if (!symbolSet.has(symbol)) throw new BinanceError(400, -1121, 'Invalid symbol.');
    const interval = q.get('interval');
    if (!interval) throw new BinanceError(400, -1102, "Mandatory parameter 'interval' was not sent, was empty/null, or malformed.");
    if (!isNativeInterval(interval)) throw new BinanceError(400, -1120, 'Invalid interval.');
    const rawLimit = q.get('limit');
    if (rawLimit !== null && rawLimit.startsWith('-')) throw new BinanceError(400, -1100, "Illegal characters found in parameter 'limit'; legal range is '^[0-9]{1,20}$'.");
    const limit = rawLimit === null ? 500 : Number(rawLimit);
    if (!Number.isInteger(limit) || limit < 1 || limit > 1000) throw new BinanceError(400, -1130, "Data sent for parameter 'limit' is not valid.");
    const num = (name: string) => {
      const v = q.get(name);
      if (v === null) return undefined;
      if (!/^\d+$/.test(v)) throw new BinanceError(400, -1100, `Illegal characters found in parameter '${name}'; legal range is '^[0-9]{1,20}$'.`);
      const n = Number(v);
      return n > 1e14 ? Math.floor(n / 1000) : n; // microseconds accepted
    };
    const startTime = num('startTime');
    const endTime = num('endTime');
    let tz = 0;
    try {
      tz = parseTimeZone(q.get('timeZone') ?? undefined);
    } catch {
      throw new BinanceError(400, -1130, "Data sent for parameter 'timeZone' is not valid.");
    }
    const at = now();
    const step = (t: number) => (interval === '1s' ? t + 1000 : nextOpen(t, interval, tz));
    const align = (t: number) => (interval === '1s' ? Math.floor(t / 1000) * 1000 : bucketOpen(t, interval, tz));
    const first = model.firstOpen(interval, tz);
    const forming = align(at);
    const last = Math.min(forming, endTime !== undefined ? align(endTime) : forming);
    const opens: number[] = [];
    if (startTime !== undefined) {
      let t = Math.max(first, align(startTime));
      if (t < startTime) t = step(t);
      for (; t <= last && opens.length < limit; t = step(t)) opens.push(t);
    } else {
      for (let t = last; t >= first && opens.length < limit; ) {
        opens.push(t);
        // Walk back one bucket: the bucket containing the millisecond before this one.
        t = align(t - 1);
      }
      opens.reverse();
    }
    const rows: unknown[] = [];
    for (const o of opens) {
      const c = model.candle(symbol, interval, o, at, tz);
      if (c) rows.push(klineRow(symbol, interval, c, tz));
    }
    return rows;
  };

  const exchangeInfo = (q: URLSearchParams) => {
    let list = symbols;
    const one = q.get('symbol');
    const many = q.get('symbols');
    if (one) list = [one];
    if (many) {
      try {
        list = JSON.parse(many) as string[];
      } catch {
        throw new BinanceError(400, -1135, 'Invalid JSON for symbols.');
      }
    }
    for (const s of list) if (!symbolSet.has(s)) throw new BinanceError(400, -1121, 'Invalid symbol.');
    return {
      timezone: 'UTC',
      serverTime: now(),
      rateLimits: [
        { rateLimitType: 'REQUEST_WEIGHT', interval: 'MINUTE', intervalNum: 1, limit: weightLimit },
        { rateLimitType: 'RAW_REQUESTS', interval: 'MINUTE', intervalNum: 5, limit: 300000 },
      ],
      exchangeFilters: [],
      symbols: list.map((s) => ({ symbol: s, status: 'TRADING', baseAsset: s.replace(/USDT$/, ''), quoteAsset: 'USDT', filters: [] })),
    };
  };

  const handle = (req: IncomingMessage, res: ServerResponse) => {
    const url = new URL(req.url ?? '/', 'http://sim');
    stats.restRequests++;
    const send = (status: number, body: unknown, headers: Record<string, string> = {}) => {
      res.writeHead(status, { 'content-type': 'application/json', 'x-mbx-used-weight-1m': String(stats.weightUsed), 'x-mbx-used-weight': String(stats.weightUsed), ...headers });
      res.end(JSON.stringify(body));
    };
    const weight = WEIGHTS[url.pathname];
    if (weight === undefined) return send(404, { code: -1, msg: `Unknown path ${url.pathname}` });
    chargeWeight(weight);
    const limited = rateLimits.shift();
    if (limited) {
      return send(limited.status, { code: -1003, msg: limited.status === 418 ? `Way too much request weight used; IP banned until ${Date.now() + limited.retryAfterSec * 1000}.` : 'Too much request weight used; current limit is 6000 request weight per 1 MINUTE.' }, { 'retry-after': String(limited.retryAfterSec) });
    }
    if (stats.weightUsed > weightLimit) {
      const retry = Math.ceil((60_000 - (Date.now() % 60_000)) / 1000);
      return send(429, { code: -1003, msg: `Too much request weight used; current limit is ${weightLimit} request weight per 1 MINUTE.` }, { 'retry-after': String(retry) });
    }
    const failure = restFailures.shift();
    if (failure !== undefined) return send(failure, { code: -1000, msg: 'An unknown error occurred while processing the request.' });
    try {
      if (url.pathname === '/api/v3/ping') return send(200, {});
      if (url.pathname === '/api/v3/time') return send(200, { serverTime: now() });
      if (url.pathname === '/api/v3/exchangeInfo') return send(200, exchangeInfo(url.searchParams));
      return send(200, klines(url.searchParams));
    } catch (e) {
      if (e instanceof BinanceError) return send(e.status, { code: e.code, msg: e.message });
      return send(500, { code: -1000, msg: (e as Error).message });
    }
  };

  // --- WebSocket ---------------------------------------------------------------------------------
  const server = createServer(handle);
  const wss = new WebSocketServer({ noServer: true, perMessageDeflate: false });
  const conns = new Set<Conn>();
  const sockets = new Set<Socket>();
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });

  server.on('upgrade', (req, socket, head) => {
    stats.wsConnectAttempts++;
    if (Date.now() < refuseUntil) {
      socket.end('HTTP/1.1 503 Service Unavailable\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
      return;
    }
    const url = new URL(req.url ?? '/', 'http://sim');
    let combined: boolean;
    let streams: string[];
    if (url.pathname === '/stream') {
      combined = true;
      streams = (url.searchParams.get('streams') ?? '').split('/').filter(Boolean);
    } else if (url.pathname === '/ws' || url.pathname.startsWith('/ws/')) {
      combined = false;
      streams = url.pathname.slice(4).split('/').filter(Boolean);
    } else {
      socket.end('HTTP/1.1 404 Not Found\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
      return;
    }
    wss.handleUpgrade(req, socket, head, (ws) => {
      const conn: Conn = { ws, streams: new Set(), combined };
      conns.add(conn);
      stats.wsOpenConnections = conns.size;
      ws.on('close', () => {
        conns.delete(conn);
        stats.wsOpenConnections = conns.size;
      });
      ws.on('error', () => {});
      if (!subscribe(conn, streams)) return;
      ws.on('message', (data) => control(conn, data.toString()));
    });
  });

  const subscribe = (conn: Conn, streams: string[]): boolean => {
    for (const s of streams) conn.streams.add(s);
    if (conn.streams.size > MAX_STREAMS) {
      conn.ws.send(JSON.stringify({ error: { code: 4, msg: 'Too many subscriptions' } }));
      conn.ws.close(1008, 'Too many subscriptions');
      return false;
    }
    return true;
  };

  const control = (conn: Conn, text: string) => {
    let msg: { method?: unknown; params?: unknown; id?: unknown };
    try {
      msg = JSON.parse(text) as typeof msg;
    } catch {
      conn.ws.send(JSON.stringify({ code: 3, msg: 'Invalid JSON', id: null }));
      return;
    }
    const id = msg.id ?? null;
    const params = Array.isArray(msg.params) ? (msg.params as unknown[]) : [];
    const reply = (body: Record<string, unknown>) => conn.ws.send(JSON.stringify({ ...body, id }));
    switch (msg.method) {
      case 'SUBSCRIBE':
        if (subscribe(conn, params.map(String))) reply({ result: null });
        return;
      case 'UNSUBSCRIBE':
        for (const p of params) conn.streams.delete(String(p));
        return reply({ result: null });
      case 'LIST_SUBSCRIPTIONS':
        return reply({ result: [...conn.streams] });
      case 'SET_PROPERTY':
        if (params[0] !== 'combined') return reply({ code: 0, msg: 'Unknown property' });
        if (typeof params[1] !== 'boolean') return reply({ code: 1, msg: 'Invalid value type: expected Boolean' });
        conn.combined = params[1];
        return reply({ result: null });
      case 'GET_PROPERTY':
        if (params[0] !== 'combined') return reply({ code: 0, msg: 'Unknown property' });
        return reply({ result: conn.combined });
      default:
        return reply({ code: 2, msg: 'Invalid request: unknown method' });
    }
  };

  /** Per stream: the open time last pushed, to know when a bucket closed. */
  const lastOpen = new Map<string, number>();

  const frameFor = (stream: string, event: Record<string, unknown>) => ({
    combined: JSON.stringify({ stream, data: event }),
    raw: JSON.stringify(event),
  });

  const deliver = (stream: string, frame: { combined: string; raw: string }) => {
    for (const c of conns) {
      if (!c.streams.has(stream) || c.ws.readyState !== WebSocket.OPEN) continue;
      c.ws.send(c.combined ? frame.combined : frame.raw);
      stats.framesSent++;
    }
  };

  const push = (only1s: boolean) => {
    if (paused) return;
    const at = now();
    const wanted = new Set<string>();
    for (const c of conns) for (const s of c.streams) wanted.add(s);
    for (const stream of wanted) {
      const m = STREAM_RE.exec(stream);
      if (!m) continue; // upper-case or unknown: acknowledged, delivers nothing
      const symbol = m[1]!.toUpperCase();
      const interval = m[2]!;
      if (!symbolSet.has(symbol) || (interval === '1s') !== only1s) continue;
      const open = interval === '1s' ? Math.floor(at / 1000) * 1000 : bucketOpen(at, interval);
      const prev = lastOpen.get(stream);
      if (prev !== undefined && prev < open) {
        // The previous bucket closed since the last push: its final update, once.
        const fin = model.candle(symbol, interval, prev, Infinity);
        if (fin) {
          const left = omitted.get(stream) ?? omitFinalsLeft;
          if (left > 0) omitted.set(stream, left - 1);
          else {
            const frame = frameFor(stream, klineEvent(symbol, interval, fin, true, at));
            if (finalDelayMs > 0) later(finalDelayMs, () => deliver(stream, frame));
            else deliver(stream, frame);
          }
        }
      }
      lastOpen.set(stream, open);
      const c = model.candle(symbol, interval, open, at);
      if (c) deliver(stream, frameFor(stream, klineEvent(symbol, interval, c, false, at)));
    }
  };

  const pushTimer = setInterval(() => push(false), pushMs);
  const pushTimer1s = setInterval(() => push(true), Math.min(1000, pushMs));
  const pingTimer = setInterval(() => {
    for (const c of conns) if (c.ws.readyState === WebSocket.OPEN) c.ws.ping();
  }, opts.pingIntervalMs ?? 20_000);

  await new Promise<void>((resolve) => server.listen(opts.port ?? 0, host, resolve));
  const port = (server.address() as AddressInfo).port;

  const sim: SimExchange = {
    restUrl: `http://${host}:${port}`,
    wsUrl: `ws://${host}:${port}`,
    symbols,
    now,
    truth(symbol, interval, fromOpen, toOpen) {
      const out: Bar[] = [];
      const at = now();
      const step = (t: number) => (interval === '1s' ? t + 1000 : nextOpen(t, interval));
      const align = (t: number) => (interval === '1s' ? Math.floor(t / 1000) * 1000 : bucketOpen(t, interval));
      const forming = align(at);
      let t = align(fromOpen);
      if (t < fromOpen) t = step(t);
      for (; t <= toOpen && t < forming; t = step(t)) {
        const c = model.candle(symbol, interval, t, Infinity);
        if (c) out.push(toBar(symbol, c, true));
      }
      return out;
    },
    faults: {
      dropConnections() {
        for (const c of conns) c.ws.terminate();
      },
      refuseConnections(ms) {
        refuseUntil = Date.now() + ms;
      },
      pauseStream() {
        paused = true;
      },
      resumeStream() {
        paused = false;
      },
      omitFinals(n) {
        omitFinalsLeft = n;
        omitted.clear();
      },
      delayFinals(ms) {
        finalDelayMs = ms;
      },
      rateLimit({ status, retryAfterSec, requests }) {
        for (let i = 0; i < requests; i++) rateLimits.push({ status, retryAfterSec });
      },
      failRest({ status, requests }) {
        for (let i = 0; i < requests; i++) restFailures.push(status);
      },
      sendMalformed(n) {
        const junk = ['{not json', '[1,2,3]', '{"stream":"x@kline_1m","data":{"e":"kline","k":{"t":"NaN"}}}', '"string"', '{"stream":"btcusdt@kline_1m","data":{"e":"kline","E":1,"s":"BTCUSDT","k":{"t":0,"s":"BTCUSDT","i":"1m","o":"x","c":"1","h":"1","l":"1","v":"1","x":false}}}'];
        for (const c of conns) for (let i = 0; i < n; i++) if (c.ws.readyState === WebSocket.OPEN) c.ws.send(junk[i % junk.length]!);
      },
      serverShutdown(closeAfterMs = 1000) {
        const event = { e: 'serverShutdown', E: now() };
        for (const c of conns) {
          if (c.ws.readyState !== WebSocket.OPEN) continue;
          c.ws.send(JSON.stringify(c.combined ? { stream: '!serverShutdown', data: event } : event));
          const ws = c.ws;
          later(closeAfterMs, () => ws.close(1001, 'server shutdown'));
        }
      },
    },
    stats,
    async close() {
      clearInterval(pushTimer);
      clearInterval(pushTimer1s);
      clearInterval(pingTimer);
      for (const t of timers) clearTimeout(t);
      for (const c of conns) c.ws.terminate();
      wss.close();
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
  return sim;
}
