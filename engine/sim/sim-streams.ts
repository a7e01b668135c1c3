import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocket, WebSocketServer } from 'ws';
import { bucketOpen, parseTimeZone } from '../src/domain/interval.ts';
import type { PriceModel } from './price-model.ts';
import type { SimMarket } from './sim-market.ts';
import { klineEvent } from './sim-format.ts';

/** What the stream side shares with the rest of the simulator. */
export interface SimStreamsContext {
  readonly market: SimMarket;
  readonly model: PriceModel;
  now(): number;
  readonly pushIntervalMs: number;
  readonly pingIntervalMs: number;
  readonly limits: StreamLimits;
  /** Push a stream only at its buckets' starts and ends (an illiquid market). */
  readonly quiet?: boolean;
  /** Called with each kline event as it is sent (a bench stamps when upstream sent each update). */
  readonly onEvent?: (stream: string, event: Record<string, unknown>) => void;
  /** Called at each push tick (not the 1s streams' own) with its time. */
  readonly onPush?: (at: number) => void;
  readonly stats: {
    wsConnectAttempts: number;
    wsOpenConnections: number;
    framesSent: number;
    pongsReceived: number;
    limitCloses: number;
    refusedConnections: number;
  };
}

/** Binance's connection limits, enforced per connection (messages, streams) and per server (new connections). */
export interface StreamLimits {
  readonly maxStreamsPerConnection: number;
  /** Incoming pings, pongs and text frames per second per connection; over it the connection is closed 1008. */
  readonly maxIncomingPerSecond: number;
  /** New connections accepted per 5 minutes; beyond, upgrades are refused with HTTP 429. */
  readonly maxConnectionsPer5Min: number;
}

interface Conn {
  readonly ws: WebSocket;
  readonly streams: Set<string>;
  combined: boolean;
  lastPongAt: number;
  /** Arrival times (real ms) of the last maxIncomingPerSecond incoming messages, oldest first. */
  readonly recent: number[];
  /** Closed for a limit: further messages are ignored. */
  cut: boolean;
}

interface StreamSpec {
  symbol: string;
  interval: string;
  tz: number;
}

/** Binance's 16 intervals; `@+08:00` is the only time zone a kline stream takes. */
const STREAM_RE = /^([a-z0-9][a-z0-9._-]{1,19})@kline_(1s|1m|3m|5m|15m|30m|1h|2h|4h|6h|8h|12h|1d|3d|1w|1M)(@\+08:00)?$/;
/** A name Binance would take for some stream (`<symbol>@<kind>…`, or `!…@arr`); others are 'invalid stream'. */
const STREAM_SHAPE_RE = /^!?[A-Za-z0-9][A-Za-z0-9._-]{0,29}(@[A-Za-z0-9_:+.-]{1,30}){1,3}$/;
const METHODS = ['SUBSCRIBE', 'UNSUBSCRIBE', 'LIST_SUBSCRIPTIONS', 'SET_PROPERTY', 'GET_PROPERTY'];
const FIVE_MIN = 300_000;
/** A client this far behind is cut off, as Binance drops slow consumers. */
const MAX_BUFFERED_BYTES = 16 * 1024 * 1024;
const ID_RE = /^[A-Za-z0-9]{1,36}$/;
const MALFORMED = [
  '{not json',
  '[1,2,3]',
  '{"stream":"x@kline_1m","data":{"e":"kline","k":{"t":"NaN"}}}',
  '"string"',
  '{"stream":"btcusdt@kline_1m","data":{"e":"kline","E":1,"s":"BTCUSDT","k":{"t":0,"s":"BTCUSDT","i":"1m","o":"x","c":"1","h":"1","l":"1","v":"1","x":false}}}',
];

/** Raw `streams=` value: URLSearchParams would turn the `+` of `@+08:00` into a space. */
function rawStreamsParam(search: string): string {
  const m = /(?:^|[?&])streams=([^&]*)/.exec(search);
  return m ? decodeURIComponent(m[1]!) : '';
}

/**
 * Binance's kline streams over `ws`: raw `/ws/<s>` and combined `/stream?streams=` endpoints, control
 * messages, pings, and one shared push timer that serializes each stream's frame once per tick for
 * every subscriber (so thousands of streams cost one pass, not one per connection).
 */
export class SimStreams {
  readonly wss = new WebSocketServer({ noServer: true, perMessageDeflate: false });
  private readonly conns = new Set<Conn>();
  private readonly subscribers = new Map<string, Set<Conn>>();
  /** Parsed stream names; null for names that are acknowledged but deliver nothing. */
  private readonly specs = new Map<string, StreamSpec | null>();
  /** Per stream: the open time last pushed, to see when its bucket closed. */
  private readonly lastOpen = new Map<string, number>();
  private readonly timers = new Set<NodeJS.Timeout>();
  private readonly intervals: NodeJS.Timeout[];
  private refuseUntil = 0;
  /** Real times of the connections accepted in the last 5 minutes, oldest first. */
  private readonly accepted: number[] = [];
  private paused = false;
  /** Events delivered so far: where each starts among its stream's subscribers (see deliver). */
  private delivered = 0;
  private readonly muted = new Set<string>();
  private omitFinalsLeft = 0;
  private readonly omitted = new Map<string, number>();
  private finalDelayMs = 0;
  private repliesToDrop = 0;
  private unsubscribesToIgnore = 0;
  private ignoredUnsubscribeAnswer: 'none' | 'refuse' = 'none';

  constructor(private readonly ctx: SimStreamsContext) {
    this.intervals = [
      setInterval(() => this.push(false), ctx.pushIntervalMs),
      setInterval(() => this.push(true), Math.min(1000, ctx.pushIntervalMs)),
      setInterval(() => this.ping(), ctx.pingIntervalMs),
    ];
  }

  /** The HTTP server's `upgrade` handler. */
  upgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    this.ctx.stats.wsConnectAttempts++;
    const reject = (status: string, headers = ''): void => {
      socket.end(`HTTP/1.1 ${status}\r\n${headers}Connection: close\r\nContent-Length: 0\r\n\r\n`);
    };
    if (Date.now() < this.refuseUntil) return reject('503 Service Unavailable');
    const url = new URL(req.url ?? '/', 'http://sim');
    if (url.pathname !== '/stream' && url.pathname !== '/ws' && !url.pathname.startsWith('/ws/')) return reject('404 Not Found');
    const realNow = Date.now();
    while (this.accepted.length > 0 && realNow - this.accepted[0]! >= FIVE_MIN) this.accepted.shift();
    if (this.accepted.length >= this.ctx.limits.maxConnectionsPer5Min) {
      this.ctx.stats.refusedConnections++;
      // As Binance does: how long until the window has room again.
      return reject('429 Too Many Requests', `Retry-After: ${Math.ceil((this.accepted[0]! + FIVE_MIN - realNow) / 1000)}\r\n`);
    }
    this.accepted.push(realNow);
    let combined: boolean;
    let streams: string[];
    if (url.pathname === '/stream') {
      combined = true;
      streams = rawStreamsParam(url.search).split('/').filter(Boolean);
    } else {
      combined = false;
      streams = decodeURIComponent(url.pathname.slice(4)).split('/').filter(Boolean);
    }
    this.wss.handleUpgrade(req, socket, head, (ws) => {
      const conn: Conn = { ws, streams: new Set(), combined, lastPongAt: Date.now(), recent: [], cut: false };
      this.conns.add(conn);
      this.ctx.stats.wsOpenConnections = this.conns.size;
      ws.on('close', () => this.forget(conn));
      ws.on('error', () => {}); // a reset client is an ordinary event here; 'close' follows
      ws.on('pong', () => {
        if (!this.admit(conn)) return;
        conn.lastPongAt = Date.now();
        this.ctx.stats.pongsReceived++;
      });
      ws.on('ping', () => this.admit(conn));
      if (!this.subscribe(conn, streams, null)) return;
      ws.on('message', (data, isBinary) => {
        if (this.admit(conn)) this.control(conn, isBinary ? '' : data.toString());
      });
    });
  }

  /** Counts an incoming message against the per-second limit; over it, closes 1008 as Binance does. */
  private admit(conn: Conn): boolean {
    if (conn.cut) return false;
    const now = Date.now();
    const { recent } = conn;
    const max = this.ctx.limits.maxIncomingPerSecond;
    if (recent.length >= max && now - recent[0]! < 1000) {
      this.cut(conn, 'Too many requests');
      return false;
    }
    recent.push(now);
    if (recent.length > max) recent.shift();
    return true;
  }

  private cut(conn: Conn, reason: string): void {
    conn.cut = true;
    this.ctx.stats.limitCloses++;
    conn.ws.close(1008, reason);
  }

  /** Streams per open connection, in connection and subscription order. */
  subscriptions(): string[][] {
    return [...this.conns].filter((c) => c.ws.readyState === WebSocket.OPEN && !c.cut).map((c) => [...c.streams]);
  }

  private forget(conn: Conn): void {
    if (!this.conns.delete(conn)) return;
    this.ctx.stats.wsOpenConnections = this.conns.size;
    for (const s of conn.streams) this.unsubscribeOne(conn, s);
  }

  /** Adds streams; over the per-connection limit nothing is added, error code 4 is sent and the connection closed 1008. */
  private subscribe(conn: Conn, streams: string[], id: unknown): boolean {
    const added = new Set(streams.filter((s) => !conn.streams.has(s))).size;
    if (conn.streams.size + added > this.ctx.limits.maxStreamsPerConnection) {
      conn.ws.send(JSON.stringify({ error: { code: 4, msg: 'Too many subscriptions' }, id }));
      this.cut(conn, 'Too many subscriptions');
      return false;
    }
    for (const s of streams) {
      if (conn.streams.has(s)) continue;
      conn.streams.add(s);
      let subs = this.subscribers.get(s);
      if (!subs) {
        this.subscribers.set(s, (subs = new Set()));
        this.specs.set(s, this.parse(s));
      }
      subs.add(conn);
    }
    return true;
  }

  private unsubscribeOne(conn: Conn, stream: string): void {
    conn.streams.delete(stream);
    const subs = this.subscribers.get(stream);
    if (!subs) return;
    subs.delete(conn);
    if (subs.size > 0) return;
    // Nobody listens any more: a later subscriber starts afresh (no stale final for an old bucket).
    this.subscribers.delete(stream);
    this.specs.delete(stream);
    this.lastOpen.delete(stream);
    this.omitted.delete(stream);
  }

  private parse(stream: string): StreamSpec | null {
    const m = STREAM_RE.exec(stream);
    if (!m) return null; // upper-case or unknown: acknowledged, delivers nothing
    const symbol = m[1]!.toUpperCase();
    if (!this.ctx.market.has(symbol)) return null;
    return { symbol, interval: m[2]!, tz: m[3] ? parseTimeZone(m[3].slice(1)) : 0 };
  }

  /** Control messages, replies and error codes as in Binance's WebSocket docs. */
  private control(conn: Conn, text: string): void {
    let msg: unknown;
    try {
      msg = JSON.parse(text);
    } catch {
      conn.ws.send(JSON.stringify({ error: { code: 3, msg: 'Invalid JSON: expected value at line 1 column 1' }, id: null }));
      return;
    }
    const { method, params, id = null } = (typeof msg === 'object' && msg !== null ? msg : {}) as { method?: unknown; params?: unknown; id?: unknown };
    const validId = id === null || (typeof id === 'number' && Number.isSafeInteger(id)) || (typeof id === 'string' && ID_RE.test(id));
    const replyId = validId ? id : null;
    const reply = (body: Record<string, unknown>) => conn.ws.send(JSON.stringify({ ...body, id: replyId }));
    // Errors come as {"error":{"code","msg"},"id"} on the wire (the docs' table shows only the inner object).
    const fail = (code: number, msg: string) => reply({ error: { code, msg } });
    const invalidRequest = (why: string) => fail(2, `Invalid request: ${why}`);
    if (!validId) return invalidRequest('request ID must be an unsigned integer');
    if (typeof method !== 'string') return invalidRequest('missing field `method`');
    if (!METHODS.includes(method)) return invalidRequest(`unknown variant \`${method}\`, expected one of ${METHODS.map((m) => `\`${m}\``).join(', ')}`);
    const list = params === undefined ? [] : params;
    if (!Array.isArray(list)) return invalidRequest('invalid type: expected a sequence for `params`');
    switch (method) {
      case 'SUBSCRIBE':
      case 'UNSUBSCRIBE':
        // A request naming any malformed stream is refused whole, as Binance does.
        if (!list.every((p) => typeof p === 'string' && STREAM_SHAPE_RE.test(p))) return invalidRequest('invalid stream');
        // Not applied: the streams stay subscribed, and the request is left unanswered or refused.
        if (method === 'UNSUBSCRIBE' && this.unsubscribesToIgnore > 0) {
          this.unsubscribesToIgnore--;
          return this.ignoredUnsubscribeAnswer === 'refuse' ? invalidRequest('unsubscribe not applied') : undefined;
        }
        if (method === 'UNSUBSCRIBE') for (const p of list as string[]) this.unsubscribeOne(conn, p);
        else if (!this.subscribe(conn, list as string[], replyId)) return;
        // Applied, and its reply lost (or so late the client gave up on it).
        if (this.repliesToDrop > 0) {
          this.repliesToDrop--;
          return;
        }
        return reply({ result: null });
      case 'LIST_SUBSCRIPTIONS':
        if (list.length > 0) return invalidRequest('too many parameters');
        return reply({ result: [...conn.streams] });
      case 'SET_PROPERTY':
        if (typeof list[0] !== 'string') return invalidRequest('property name must be a string');
        if (list[0] !== 'combined') return fail(0, 'Unknown property');
        if (typeof list[1] !== 'boolean') return fail(1, 'Invalid value type: expected Boolean');
        conn.combined = list[1];
        return reply({ result: null });
      case 'GET_PROPERTY':
        if (typeof list[0] !== 'string') return invalidRequest('property name must be a string');
        if (list[0] !== 'combined') return fail(0, 'Unknown property');
        return reply({ result: conn.combined });
    }
  }

  private send(conn: Conn, text: string): void {
    if (conn.ws.readyState !== WebSocket.OPEN) return;
    if (conn.ws.bufferedAmount > MAX_BUFFERED_BYTES) {
      conn.ws.terminate();
      return;
    }
    conn.ws.send(text);
    this.ctx.stats.framesSent++;
  }

  /** Serializes an event once and sends it to every subscriber of the stream, enveloped or bare. */
  private deliver(stream: string, event: Record<string, unknown>): void {
    const subs = this.subscribers.get(stream);
    if (!subs || this.muted.has(stream)) return;
    this.ctx.onEvent?.(stream, event);
    const raw = JSON.stringify(event);
    let combined: string | undefined;
    // Each event starts at another subscriber: several followers of one stream (a ROLE=all node and an
    // ingest node, side by side in a bench) are each served first as often, not the first subscribed always.
    // Two passes over the set, no copy per event: from the k-th subscriber on, then those before it.
    const k = this.delivered++ % subs.size;
    for (let pass = 0; pass < 2; pass++) {
      let i = 0;
      for (const c of subs) {
        if (pass === 0 ? i++ < k : i++ >= k) continue;
        if (c.combined) combined ??= `{"stream":${JSON.stringify(stream)},"data":${raw}}`;
        this.send(c, c.combined ? combined! : raw);
      }
    }
  }

  private push(only1s: boolean): void {
    if (this.paused) return;
    const { model, market } = this.ctx;
    const at = this.ctx.now();
    if (!only1s) this.ctx.onPush?.(at);
    for (const stream of this.subscribers.keys()) {
      const spec = this.specs.get(stream);
      if (!spec || (spec.interval === '1s') !== only1s) continue;
      const { symbol, interval, tz } = spec;
      if (!market.isTrading(symbol)) {
        // Not trading: nothing is pushed (the subscription stays); on resumption the stream starts afresh.
        this.lastOpen.delete(stream);
        continue;
      }
      const open = interval === '1s' ? Math.floor(at / 1000) * 1000 : bucketOpen(at, interval, tz);
      const prev = this.lastOpen.get(stream);
      if (prev !== undefined && prev < open) this.pushFinal(stream, spec, prev, at);
      this.lastOpen.set(stream, open);
      const c = model.candle(symbol, interval, open, at, tz);
      if (c && (!this.ctx.quiet || prev !== open)) this.deliver(stream, klineEvent(symbol, interval, c, false, at, tz));
    }
  }

  /** The previous bucket closed since the last push: its final update, once (subject to faults). */
  private pushFinal(stream: string, spec: StreamSpec, open: number, at: number): void {
    const fin = this.ctx.model.candle(spec.symbol, spec.interval, open, Infinity, spec.tz);
    if (!fin) return;
    const left = this.omitted.get(stream) ?? this.omitFinalsLeft;
    if (left > 0) {
      this.omitted.set(stream, left - 1);
      return;
    }
    // A late final carries the time it is sent, as a late one from Binance would.
    const send = () => this.deliver(stream, klineEvent(spec.symbol, spec.interval, fin, true, this.finalDelayMs > 0 ? this.ctx.now() : at, spec.tz));
    if (this.finalDelayMs > 0) this.later(this.finalDelayMs, send);
    else send();
  }

  private ping(): void {
    for (const c of this.conns) if (c.ws.readyState === WebSocket.OPEN) c.ws.ping();
  }

  private later(ms: number, fn: () => void): void {
    const t = setTimeout(() => {
      this.timers.delete(t);
      fn();
    }, ms);
    this.timers.add(t);
  }

  /** Every connection, or those subscribed to `stream`. */
  dropConnections(stream?: string): void {
    for (const c of this.conns) if (stream === undefined || c.streams.has(stream)) c.ws.terminate();
  }

  refuseConnections(ms: number): void {
    this.refuseUntil = Date.now() + ms;
  }

  pauseStream(): void {
    this.paused = true;
  }

  resumeStream(): void {
    this.paused = false;
  }

  /** Subscriptions to `stream` are acknowledged and kept, and nothing is sent on it (`false` ends it). */
  muteStream(stream: string, muted = true): void {
    if (muted) this.muted.add(stream);
    else this.muted.delete(stream);
  }

  omitFinals(n: number): void {
    this.omitFinalsLeft = n;
    this.omitted.clear();
  }

  delayFinals(ms: number): void {
    this.finalDelayMs = ms;
  }

  /** The next n SUBSCRIBE/UNSUBSCRIBE requests (any connection) are applied and not answered. */
  dropReplies(n: number): void {
    this.repliesToDrop = n;
  }

  /** The next n UNSUBSCRIBE requests (any connection) are not applied, and left unanswered or refused (code 2). */
  ignoreUnsubscribes(n: number, answer: 'none' | 'refuse'): void {
    this.unsubscribesToIgnore = n;
    this.ignoredUnsubscribeAnswer = answer;
  }

  sendMalformed(n: number): void {
    for (const c of this.conns) for (let i = 0; i < n; i++) this.send(c, MALFORMED[i % MALFORMED.length]!);
  }

  serverShutdown(closeAfterMs: number): void {
    const event = { e: 'serverShutdown', E: this.ctx.now() };
    for (const c of this.conns) {
      this.send(c, JSON.stringify(c.combined ? { stream: '!serverShutdown', data: event } : event));
      const { ws } = c;
      this.later(closeAfterMs, () => ws.close(1001, 'server shutdown'));
    }
  }

  /** Stops every timer and cuts every connection. */
  close(): void {
    for (const t of this.intervals) clearInterval(t);
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    for (const c of this.conns) c.ws.terminate();
    this.wss.close();
  }
}
