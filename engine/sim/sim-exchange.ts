import { createServer } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import type { Bar } from '../src/domain/bar.ts';
import { bucketOpen, parseInterval, isNativeInterval, nextOpen } from '../src/domain/interval.ts';
import { PriceModel } from './price-model.ts';
import { SimMarket } from './sim-market.ts';
import { buildUniverse, DEFAULT_UNIVERSE_SIZE, type MarketEntry, marketsOf, type SymbolStatus } from './sim-universe.ts';
import { toBar } from './sim-format.ts';
import { createRestHandler, type RestFaultQueue } from './sim-rest.ts';
import { SimStreams } from './sim-streams.ts';

export interface SimOptions {
  /** Default '127.0.0.1'. */
  host?: string;
  /** Default 0 (ephemeral); REST and WS share it. */
  port?: number;
  /** Default 1; same seed, same prices. */
  seed?: number;
  /** Exactly these symbols, all TRADING; default: the generated universe (see universeSize). */
  symbols?: string[];
  /**
   * Default 1500: TRADING symbols of the generated universe (the 20 major USDT pairs first, at
   * realistic levels, then their other quotes, then generated names), plus about 1 in 300 in BREAK.
   */
  universeSize?: number;
  /** Default 2000 (Binance's pace); 1s streams push every min(1000, pushIntervalMs). */
  pushIntervalMs?: number;
  /** Default 1; sim time = clockStart + (real - start) * clockSpeed. */
  clockSpeed?: number;
  /**
   * An illiquid market: each stream pushes only its new kline at a bucket's start and its final at
   * the end (Binance pushes a kline only when it changes), so a socket is silent between. Default false.
   */
  quiet?: boolean;
  /** Sim time at start; default Date.now(). */
  clockStart?: number;
  /** First 1m open time with data; default 2019-01-01T00:00Z. */
  listedSince?: number;
  /** Default 20000: the server pings each WS connection this often. */
  pingIntervalMs?: number;
  /** Default 6000 per UTC minute; over it, 429 -1003 with Retry-After. */
  weightLimitPerMinute?: number;
  /** Default 1024 (Binance's): more on one connection gets error code 4 and close 1008. */
  maxStreamsPerConnection?: number;
  /** Default 5 (Binance's): incoming pings, pongs and text frames per second per connection; over it, close 1008. */
  maxIncomingPerSecond?: number;
  /** Default 300 (Binance's): new WS connections per 5 minutes; beyond, upgrades get HTTP 429. */
  maxConnectionsPer5Min?: number;
  /** Called with each kline event as it is sent to its stream's subscribers (a bench's send stamps). */
  onEvent?: (stream: string, event: Record<string, unknown>) => void;
  /** Called at each push tick with its time (`E` of what it sends), subscribed or not: a spec's record of what a stream should have had. */
  onPush?: (at: number) => void;
}

export interface SimStats {
  restRequests: number;
  weightUsed: number;
  wsConnectAttempts: number;
  wsOpenConnections: number;
  framesSent: number;
  /** Pongs received for the server's pings. */
  pongsReceived: number;
  /** Connections closed for breaking a limit (too many messages per second or streams). */
  limitCloses: number;
  /** WS upgrades refused for too many new connections in 5 minutes. */
  refusedConnections: number;
}

/** One answered klines request, as the exchange saw its parameters. */
export interface KlinesRequest {
  symbol: string;
  interval: string;
  startTime: number | undefined;
  endTime: number | undefined;
}

const KLINES_LOG = 1000;

export interface SimExchange {
  readonly restUrl: string;
  readonly wsUrl: string;
  /** The TRADING symbols, in listing order (changes with market.setStatus). */
  readonly symbols: readonly string[];
  /** Markets and their status, for tests. */
  readonly market: {
    /** TRADING, BREAK, HALT…: exchangeInfo reports it; a non-TRADING symbol's streams stop pushing, its REST klines still answer. */
    setStatus(symbol: string, status: SymbolStatus): void;
    status(symbol: string): SymbolStatus | undefined;
    /** Every market, any status (exchangeInfo's list). */
    list(): readonly MarketEntry[];
  };
  /** Sim clock, ms. */
  now(): number;
  /** Final (closed) bars whose openTime is in [fromOpen, toOpen], deterministic; the forming bucket is excluded. */
  truth(symbol: string, interval: string, fromOpen: number, toOpen: number): Bar[];
  readonly faults: {
    /** Terminate every WS connection (or those subscribed to `stream`) abruptly (socket destroyed, no close frame). */
    dropConnections(stream?: string): void;
    /** Reject WS upgrades with HTTP 503 for `ms`. */
    refuseConnections(ms: number): void;
    /** Stop pushing kline frames; connections stay open. */
    pauseStream(): void;
    resumeStream(): void;
    /** Skip the x:true push of the next n bucket closes, per stream. */
    omitFinals(n: number): void;
    /** Push x:true `ms` late (0 = off). */
    delayFinals(ms: number): void;
    /** The next `requests` REST requests get this status with code -1003 and Retry-After. */
    rateLimit(opts: { status: 429 | 418; retryAfterSec: number; requests: number }): void;
    /** The next `requests` REST requests answer `status` (e.g. 500 {code:-1000}, 503 {code:-1008}). */
    failRest(opts: { status: number; requests: number }): void;
    /** Leaves every REST request (or those to `paths`) unanswered, as an exchange that hangs, until restoreRest. */
    stallRest(paths?: readonly string[]): void;
    /** The paths of the requests held by stallRest now (one per request, in arrival order). */
    stalledRequests(): string[];
    /** Drops the failures failRest queued and not yet answered, and serves the stalled requests: REST answers again. */
    restoreRest(): void;
    /** Acknowledge subscriptions to `stream` but send nothing on it (`false` ends it). */
    muteStream(stream: string, muted?: boolean): void;
    /** Apply the next n SUBSCRIBE/UNSUBSCRIBE requests and send no reply to them (a reply lost or late). */
    dropReplies(n: number): void;
    /** Leave the next n UNSUBSCRIBE requests unapplied (the streams stay subscribed): unanswered, or refused with code 2. */
    ignoreUnsubscribes(n: number, answer?: 'none' | 'refuse'): void;
    /** Send n garbage or malformed frames on every open WS connection. */
    sendMalformed(n: number): void;
    /** Send the serverShutdown event, close connections `closeAfterMs` later (default 1000). */
    serverShutdown(closeAfterMs?: number): void;
  };
  readonly stats: SimStats;
  /** Streams of each open WS connection, in connection and subscription order. */
  subscriptions(): string[][];
  /** REST klines and uiKlines requests answered for a symbol (and interval, when given). */
  klinesRequests(symbol: string, interval?: string): number;
  /** The last 1,000 answered klines/uiKlines requests, oldest first, to tell a test's pages from the engine's own. */
  klinesLog(): readonly KlinesRequest[];
  /** Closes the server, every socket and every timer. */
  close(): Promise<void>;
}

function positive(name: string, value: number, integer = true): number {
  if (!Number.isFinite(value) || value <= 0 || (integer && !Number.isInteger(value))) {
    throw new TypeError(`startSimExchange: ${name} must be a positive ${integer ? 'integer' : 'number'}, got ${value}`);
  }
  return value;
}

/**
 * A Binance-compatible exchange on loopback: REST klines and kline streams from one deterministic
 * price model (REST, WS and `truth` agree exactly), with fault injection for tests.
 */
export async function startSimExchange(opts: SimOptions = {}): Promise<SimExchange> {
  const host = opts.host ?? '127.0.0.1';
  const seed = opts.seed ?? 1;
  const market = new SimMarket(
    opts.symbols?.length ? marketsOf([...new Set(opts.symbols.map((s) => s.toUpperCase()))]) : buildUniverse(seed, positive('universeSize', opts.universeSize ?? DEFAULT_UNIVERSE_SIZE)),
  );
  const speed = positive('clockSpeed', opts.clockSpeed ?? 1, false);
  const pushIntervalMs = positive('pushIntervalMs', opts.pushIntervalMs ?? 2000);
  const pingIntervalMs = positive('pingIntervalMs', opts.pingIntervalMs ?? 20_000);
  const weightLimit = positive('weightLimitPerMinute', opts.weightLimitPerMinute ?? 6000);
  const limits = {
    maxStreamsPerConnection: positive('maxStreamsPerConnection', opts.maxStreamsPerConnection ?? 1024),
    maxIncomingPerSecond: positive('maxIncomingPerSecond', opts.maxIncomingPerSecond ?? 5),
    maxConnectionsPer5Min: positive('maxConnectionsPer5Min', opts.maxConnectionsPer5Min ?? 300),
  };
  const realStart = Date.now();
  const simStart = opts.clockStart ?? realStart;
  const now = () => Math.floor(simStart + (Date.now() - realStart) * speed);
  const model = new PriceModel(seed, opts.listedSince ?? Date.UTC(2019, 0, 1));
  const stats: SimStats = { restRequests: 0, weightUsed: 0, wsConnectAttempts: 0, wsOpenConnections: 0, framesSent: 0, pongsReceived: 0, limitCloses: 0, refusedConnections: 0 };
  /** Answered klines/uiKlines requests by `SYMBOL interval`. */
  const klinesCount = new Map<string, number>();

  const restFaults: RestFaultQueue = { rateLimits: [], failures: [] };
  const klinesLog: KlinesRequest[] = [];
  const onKlines = (symbol: string, interval: string, startTime: number | undefined, endTime: number | undefined) => {
    klinesCount.set(`${symbol} ${interval}`, (klinesCount.get(`${symbol} ${interval}`) ?? 0) + 1);
    if (klinesLog.push({ symbol, interval, startTime, endTime }) > KLINES_LOG) klinesLog.shift();
  };
  const server = createServer(createRestHandler({ market, model, weightLimit, now, stats, onKlines }, restFaults));
  const streams = new SimStreams({ market, model, now, pushIntervalMs, pingIntervalMs, limits, stats, onEvent: opts.onEvent, onPush: opts.onPush, quiet: opts.quiet === true });
  server.on('upgrade', (req, socket, head) => streams.upgrade(req, socket, head));
  // Kept to destroy keep-alive sockets on close (server.close waits for them otherwise).
  const sockets = new Set<Socket>();
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });

  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(opts.port ?? 0, host, () => {
        server.off('error', reject);
        resolve();
      });
    });
  } catch (e) {
    streams.close();
    throw e;
  }
  const { port } = server.address() as AddressInfo;
  const urlHost = host.includes(':') ? `[${host}]` : host;

  return {
    restUrl: `http://${urlHost}:${port}`,
    wsUrl: `ws://${urlHost}:${port}`,
    get symbols() {
      return market.trading();
    },
    market: {
      setStatus: (symbol, status) => market.setStatus(symbol, status),
      status: (symbol) => market.status(symbol),
      list: () => market.list(),
    },
    now,
    truth(symbol, interval, fromOpen, toOpen) {
      // Native intervals, and any interval built of whole minutes (custom ones like 10m or 45m): the
      // exact aggregate of the 1m candles, which is what the engine's resampling must reproduce.
      const iv = parseInterval(interval);
      if (!isNativeInterval(interval) && iv.unit === 's') throw new TypeError(`truth: '${interval}' is neither a Binance interval nor built of whole minutes`);
      const step = (t: number) => (interval === '1s' ? t + 1000 : nextOpen(t, interval));
      const align = (t: number) => (interval === '1s' ? Math.floor(t / 1000) * 1000 : bucketOpen(t, interval));
      const forming = align(now());
      const out: Bar[] = [];
      let t = align(fromOpen);
      if (t < fromOpen) t = step(t);
      for (; t <= toOpen && t < forming; t = step(t)) {
        const c = model.candle(symbol, interval, t, Infinity);
        if (c) out.push(toBar(symbol, c, true));
      }
      return out;
    },
    faults: {
      dropConnections: (stream) => streams.dropConnections(stream),
      refuseConnections: (ms) => streams.refuseConnections(ms),
      pauseStream: () => streams.pauseStream(),
      resumeStream: () => streams.resumeStream(),
      omitFinals: (n) => streams.omitFinals(n),
      delayFinals: (ms) => streams.delayFinals(ms),
      rateLimit({ status, retryAfterSec, requests }) {
        for (let i = 0; i < requests; i++) restFaults.rateLimits.push({ status, retryAfterSec });
      },
      failRest({ status, requests }) {
        for (let i = 0; i < requests; i++) restFaults.failures.push(status);
      },
      stallRest(paths) {
        restFaults.stalled ??= [];
        restFaults.stalledPaths = paths && new Set(paths);
      },
      restoreRest() {
        restFaults.failures.length = 0;
        const stalled = restFaults.stalled ?? [];
        restFaults.stalled = undefined;
        for (const { serve } of stalled) serve();
      },
      stalledRequests: () => (restFaults.stalled ?? []).map((r) => r.path),
      muteStream: (stream, muted) => streams.muteStream(stream, muted),
      dropReplies: (n) => streams.dropReplies(n),
      ignoreUnsubscribes: (n, answer = 'none') => streams.ignoreUnsubscribes(n, answer),
      sendMalformed: (n) => streams.sendMalformed(n),
      serverShutdown: (closeAfterMs = 1000) => streams.serverShutdown(closeAfterMs),
    },
    stats,
    subscriptions: () => streams.subscriptions(),
    klinesLog: () => klinesLog.slice(),
    klinesRequests(symbol, interval) {
      if (interval !== undefined) return klinesCount.get(`${symbol} ${interval}`) ?? 0;
      let n = 0;
      for (const [key, count] of klinesCount) if (key.startsWith(`${symbol} `)) n += count;
      return n;
    },
    async close() {
      streams.close();
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      for (const s of sockets) s.destroy();
      await closed;
    },
  };
}
