import WebSocket from 'ws';
import { MalformedFrameError } from '../domain/errors.ts';
import { parseStreamFrame } from './binance-raw.ts';
import type { ConnectLimiter } from './connect-limiter.ts';
import type { ReconnectScout } from './reconnect-scout.ts';
import { TokenBucket } from '../domain/token-bucket.ts';
import { type ControlMethod, controlRequest, parseControlReply } from './ws-control.ts';
import { KlineFlow, quietAllowanceMs, streamIntervalMs, streamSilenceMs } from './quiet-allowance.ts';
import { refusalWaitMs } from './retry-after.ts';
import type { UpstreamEvent } from './upstream-event.ts';

/** Binance's limit of streams on one connection. */
export const MAX_STREAMS_PER_CONNECTION = 1024;

export interface StreamShardOptions {
  /** Names this shard in events and logs. */
  index: number;
  wsUrl: string;
  staleAfterMs: number;
  rotateAfterMs: number;
  limiter: ConnectLimiter;
  /** Shared by a process's shards: one of them dials while the exchange is out of reach. */
  scout?: ReconnectScout<StreamShard>;
  emit(ev: UpstreamEvent): void;
  /** Backoff between dials of a shard that lost its socket: from this (default 500 ms)… */
  backoffInitialMs?: number;
  /** …doubling up to this (default 10 s), each wait jittered down to half. */
  backoffMaxMs?: number;
  now?: () => number;
  /** Control messages sent per second at most (Binance counts pongs in its 5/s too). Default 3. */
  sendsPerSecond?: number;
  /** Streams per SUBSCRIBE/UNSUBSCRIBE message. Default 200. */
  batchSize?: number;
  /**
   * Streams one socket may be subscribed to at once (Binance's 1024; one more gets error 4 and close
   * 1008). Default 1024. Its UNSUBSCRIBEs go first when a SUBSCRIBE would pass it.
   */
  maxStreams?: number;
  /** A request without a reply this long is sent again. Default 10 s. */
  replyTimeoutMs?: number;
  /** A socket on which nothing at all came this long (Binance pings every 20 s) is dead. Default 60 s. */
  deadAfterMs?: number;
  /**
   * True once the upstream has nothing more to send (a replay played its last frame): silence is then
   * its normal state, so a socket is only checked for life (pings), never replaced or called stale
   * for want of klines (a replay's end flapped reconnecting/stale every minute).
   */
  ended?: () => boolean;
  onMalformed?: (err: MalformedFrameError) => void;
  onFrame?: (text: string, receivedAt: number) => void;
  log?: (level: 'info' | 'warn', msg: string, fields?: Record<string, unknown>) => void;
}

/** One socket of a shard and what it was asked to deliver. */
interface Conn {
  readonly ws: WebSocket;
  readonly rotation: boolean;
  readonly pacer: TokenBucket;
  open: boolean;
  /**
   * Streams the exchange may hold: a SUBSCRIBE was sent for them (answered or not) and no UNSUBSCRIBE
   * since, or their last request went unanswered. What the socket has room for is counted from it.
   */
  readonly requested: Set<string>;
  /**
   * Requested streams whose SUBSCRIBE is to be sent again: found silent (checkStreams), or their last
   * request got no reply (applied or not, no one knows). They stay in `requested`, as the exchange may
   * hold them: taken out, they were counted as room, and a new stream's SUBSCRIBE went out with the
   * exchange still holding them (one too many: error 4, close 1008); one no longer wanted then was
   * never unsubscribed. No longer wanted, they get their UNSUBSCRIBE instead.
   */
  readonly again: Set<string>;
  /**
   * Streams whose UNSUBSCRIBE is not answered yet: their last frames are still due, and dropped quietly.
   * One whose UNSUBSCRIBE was given up on (MAX_ATTEMPTS) stays here and in `requested` until the socket
   * is replaced: the exchange may hold it, so it takes a place and its frames are dropped quietly.
   */
  readonly leaving: Set<string>;
  readonly inflight: Map<number, { method: ControlMethod; params: string[]; again: boolean; timer: NodeJS.Timeout; attempt: number }>;
  /**
   * Failed attempts so far per stream whose last request failed, counted for that request's method
   * (bounded by the shard's streams): a stream's failed SUBSCRIBEs leave its UNSUBSCRIBE its own tries.
   */
  readonly attempts: Map<string, { method: ControlMethod; n: number }>;
  /** The HTTP status the exchange refused the handshake with, if it did. */
  refused?: number;
  /** A kline came on it: the exchange works (an open alone is not proof: one may close each socket at once). */
  delivered?: boolean;
  /** When anything (a frame or the exchange's ping) last came on it: the socket is alive. */
  heardAt: number;
  pumpTimer: NodeJS.Timeout | undefined;
  holdUntil: number;
  rotateTimer: NodeJS.Timeout | undefined;
  /** A failed replacement's retry (rotationFailed); the age timer stays. */
  retryTimer?: NodeJS.Timeout;
  /** It was the shard's current socket (a rotation's, once it took over). */
  tookOver?: boolean;
}

const MAX_ATTEMPTS = 3;
/** A rotation's reason that needs no retry once the stuck stream settled. */
const UNSUBSCRIBE_GIVEN_UP = 'unsubscribe given up';
/** Longest pause between tries of a failed rotation. */
const ROTATION_RETRY_MAX_MS = 60_000;
/** Largest upstream frame taken (a bigger one closes the socket 1009). */
export const MAX_FRAME_BYTES = 1 << 20;

/**
 * One upstream connection of at most STREAMS_PER_CONNECTION streams. It dials the bare `/stream`
 * endpoint and keeps the socket's subscriptions equal to the streams it is given with Binance's live
 * `SUBSCRIBE`/`UNSUBSCRIBE` (batched, paced by a token bucket, every request id answered or retried),
 * so adding a series never reconnects anything. It reconnects with jittered backoff (attempts limited
 * for the whole process), replaces a socket gone quiet, and rotates make-before-break before the 24 h
 * cut and on `serverShutdown`: the replacement takes over once it has subscribed every stream.
 */
export class StreamShard {
  private readonly wanted = new Set<string>();
  private readonly sockets = new Set<Conn>();
  private readonly ac = new AbortController();
  private readonly now: () => number;
  private current: Conn | undefined;
  private rotating = false;
  /** Replacements that failed in a row before taking over (a retried rotation's backoff). */
  private rotationFailures = 0;
  /** Why the rotation in flight was started: age and a server's shutdown notice outrank a given-up UNSUBSCRIBE. */
  private rotationWhy: string | undefined;
  private everConnected = false;
  private failures = 0;
  private lastFrameAt: number;
  /** When a kline last came on this shard (or it was given its first streams): unlike lastFrameAt, a connect does not move it. */
  private lastKlineAt: number;
  /** When its current socket connected. */
  private connectedAt = 0;
  /** Its last socket was replaced for silence, and no kline came since: the replacement is as suspect. */
  private replacedSilent = false;
  /** Down while it had no stream to carry (a shard in its empty grace): not dialled again until it has one. */
  private idleDown = false;
  /** A kline ever came on this shard. */
  private heard = false;
  /** Whether its klines come steadily (then a silence is a freeze) or sparsely (illiquid pairs). */
  private readonly flow: KlineFlow;
  /** Shortest interval among the wanted streams (a quiet stream still gets a kline per bucket). */
  private shortestMs: number | undefined;
  /** When each wanted stream last sent a kline, or was (re)subscribed: one the exchange went quiet on is asked for again. */
  private readonly heardOf = new Map<string, number>();
  /** Streams found silent (checkStreams) and not heard since: for /health and the metrics. */
  private readonly silentNow = new Set<string>();
  private nextId = 1;
  private reconnectTimer: NodeJS.Timeout | undefined;
  private readonly staleTimer: NodeJS.Timeout;

  constructor(private readonly opts: StreamShardOptions) {
    this.now = opts.now ?? Date.now;
    this.lastFrameAt = this.now();
    this.lastKlineAt = this.lastFrameAt;
    this.flow = new KlineFlow(opts.staleAfterMs);
    this.staleTimer = setInterval(() => this.checkStale(), Math.max(250, Math.min(5000, opts.staleAfterMs / 4)));
    void this.dial(false);
  }

  get index(): number {
    return this.opts.index;
  }

  /** Streams this shard is to deliver. */
  get size(): number {
    return this.wanted.size;
  }

  get connected(): boolean {
    return this.current?.open === true;
  }

  get streams(): readonly string[] {
    return [...this.wanted];
  }

  /** Wanted streams the exchange went silent on while this socket delivered others, not heard since. */
  get silent(): number {
    return this.silentNow.size;
  }

  /** Their names (see `silent`). */
  silentStreams(): readonly string[] {
    return [...this.silentNow];
  }

  /**
   * Connected, and no kline for longer than the shard finds normal (STALE_AFTER_MS, at most 10 s, or
   * its quiet allowance), though connected for longer than that or replacing a socket found silent:
   * its series' clients are told `stale`. A socket the exchange keeps open and answers pings on but
   * sends nothing on is replaced, and its replacement as silent read `live` while the other shards
   * delivered (a review: 197 s of 200; then, until a second review, for the first 10 s of each
   * replacement). Measured from the last kline: a connect does not make a silent shard live. After a
   * drop, a new socket has until the stale time for its first kline (its clients read `live`).
   */
  get stale(): boolean {
    if (!this.connected || this.wanted.size === 0 || this.opts.ended?.()) return false;
    const now = this.now();
    const staleMs = Math.min(10_000, this.opts.staleAfterMs);
    const normal = Math.max(staleMs, this.quietAllowanceMs());
    return now - this.lastKlineAt > normal && (this.replacedSilent || now - this.connectedAt > staleMs);
  }

  add(streams: readonly string[]): void {
    // A shard that had nothing to deliver was legitimately silent: its silence starts now.
    if (this.wanted.size === 0) this.lastFrameAt = this.lastKlineAt = this.now();
    for (const s of streams) this.wanted.add(s);
    this.measure();
    this.pumpAll();
    if (this.idleDown && this.wanted.size > 0) {
      this.idleDown = false;
      void this.dial(false);
    }
  }

  remove(streams: readonly string[]): void {
    for (const s of streams) {
      this.wanted.delete(s);
      this.heardOf.delete(s);
      this.silentNow.delete(s);
    }
    this.measure();
    this.pumpAll();
  }

  /** The silence that is normal for this shard now (see quiet-allowance.ts). */
  quietAllowanceMs(): number {
    return quietAllowanceMs(this.heard, this.flow.busy, this.shortestMs);
  }

  private measure(): void {
    let shortest: number | undefined;
    for (const s of this.wanted) {
      const ms = streamIntervalMs(s);
      if (ms !== undefined && (shortest === undefined || ms < shortest)) shortest = ms;
    }
    this.shortestMs = shortest;
  }

  /** Closes every socket and clears every timer. */
  stop(): void {
    this.ac.abort();
    clearInterval(this.staleTimer);
    clearTimeout(this.reconnectTimer);
    this.opts.scout?.left(this);
    for (const c of this.sockets) {
      this.dispose(c);
      c.ws.terminate();
    }
    this.sockets.clear();
  }

  private pumpAll(): void {
    for (const c of this.sockets) this.pump(c);
  }

  private checkStale(): void {
    const c = this.current;
    if (!c || !c.open) return;
    const now = this.now();
    const silent = now - this.lastFrameAt;
    // An empty shard's socket is only checked for life (it stands for `up` in the upstream's state).
    if ((this.wanted.size === 0 || this.opts.ended?.()) && now - c.heardAt <= (this.opts.deadAfterMs ?? 60_000)) return;
    // A quiet shard may go minutes without a kline; a socket that hears not even the exchange's ping
    // (every 20 s) for a minute is dead whatever it carries.
    const dead = now - c.heardAt > (this.opts.deadAfterMs ?? 60_000);
    if (!dead && (silent <= this.opts.staleAfterMs || silent <= this.quietAllowanceMs())) return this.checkStreams(c, now);
    this.opts.log?.('warn', dead ? 'upstream connection dead (no ping), replacing' : 'upstream connection stale, replacing', { shard: this.index, silentMs: silent });
    this.current = undefined;
    this.dispose(c);
    c.ws.terminate();
    if (!dead) this.replacedSilent = true;
    this.down(dead ? 'dead' : 'stale');
  }

  /**
   * A stream the exchange acknowledged and then sent nothing on, while the socket delivers others,
   * froze its series for good with everything reading `live` (an attacker-style probe: 242 s, no log):
   * one silent for its interval plus a grace is subscribed again, and its series re-synced.
   */
  private checkStreams(c: Conn, now: number): void {
    let silent: string[] | undefined;
    for (const s of c.requested) {
      const at = this.heardOf.get(s);
      // Only while others come: a socket silent as a whole is the rule above's.
      if (at === undefined || this.lastFrameAt <= at || now - at <= streamSilenceMs(s) || !this.wanted.has(s)) continue;
      (silent ??= []).push(s);
      this.silentNow.add(s);
      c.again.add(s);
      this.heardOf.set(s, now);
    }
    if (!silent) return;
    this.opts.log?.('warn', 'upstream streams silent while others deliver: subscribing them again', { shard: this.index, streams: silent.length, sample: silent.slice(0, 5).join(',') });
    this.opts.emit({ type: 'silent', shard: this.index, streams: silent });
    this.pump(c);
  }

  private down(reason: string): void {
    if (this.ac.signal.aborted) return;
    this.opts.emit({ type: 'disconnected', shard: this.index, reason });
    this.failures++;
    clearTimeout(this.reconnectTimer);
    // Nothing to carry (its empty grace): no dial, and never the scout, which it could not end without
    // a kline while the shards with streams waited parked (a review: 53 s dark after an outage).
    if (this.wanted.size === 0) {
      this.idleDown = true;
      return;
    }
    // Parked: another shard scouts, and this one dials when some socket opens.
    if (this.opts.scout && !this.opts.scout.down(this, () => this.wake())) return;
    const base = this.backoffMs(this.failures, this.opts.backoffMaxMs ?? 10_000);
    this.reconnectTimer = setTimeout(() => void this.dial(false), base * (0.5 + Math.random() / 2));
  }

  /** The scout reached the exchange (or stopped): dial now, unless a socket came meanwhile. */
  private wake(): void {
    if (this.ac.signal.aborted || this.current) return;
    clearTimeout(this.reconnectTimer);
    // On a timer, not in the waker's turn: a set closing all its shards wakes ones it stops next.
    this.reconnectTimer = setTimeout(() => void this.dial(false), 0);
  }

  private dispose(c: Conn): void {
    clearTimeout(c.pumpTimer);
    clearTimeout(c.rotateTimer);
    clearTimeout(c.retryTimer);
    for (const r of c.inflight.values()) clearTimeout(r.timer);
    c.inflight.clear();
    c.open = false;
  }

  /** Opens a socket; a rotation's keeps the old one delivering until it has subscribed everything. */
  private async dial(rotation: boolean): Promise<void> {
    try {
      await this.opts.limiter.acquire(this.ac.signal, !rotation && !this.everConnected);
    } catch {
      return; // stopped
    }
    // A rotation's socket took over while this dial waited its turn.
    if (this.ac.signal.aborted || (!rotation && this.current)) return;
    // A kline frame is under 1 KB and a reply listing 1,024 streams about 30 KB: ws's default cap (100 MiB) let one frame take 450 MB.
    const ws = new WebSocket(`${this.opts.wsUrl}/stream`, { handshakeTimeout: 10_000, perMessageDeflate: false, maxPayload: MAX_FRAME_BYTES });
    const c: Conn = {
      ws,
      rotation,
      pacer: new TokenBucket(this.opts.sendsPerSecond ?? 3, 1, this.now),
      open: false,
      requested: new Set(),
      again: new Set(),
      leaving: new Set(),
      inflight: new Map(),
      attempts: new Map(),
      heardAt: this.now(),
      pumpTimer: undefined,
      holdUntil: 0,
      rotateTimer: undefined,
    };
    this.sockets.add(c);
    ws.on('open', () => {
      if (this.ac.signal.aborted) return;
      if (!rotation && this.current) {
        // A rotation's socket took over while this one connected: one socket per shard.
        this.sockets.delete(c);
        this.dispose(c);
        c.ws.close(1000, 'superseded');
        return;
      }
      c.open = true;
      this.opts.log?.('info', 'upstream connected', { shard: this.index, streams: this.wanted.size, rotation });
      if (!rotation) {
        this.lastFrameAt = this.connectedAt = this.now();
        this.flow.bridge();
        this.current = c;
        c.tookOver = true;
        this.rotationFailures = 0;
        this.schedule(c);
        this.opts.emit({ type: 'connected', shard: this.index, streams: [...this.wanted], resync: this.everConnected });
        this.everConnected = true;
      }
      this.pump(c);
    });
    ws.on('message', (data, isBinary) => this.onMessage(c, isBinary ? '' : data.toString()));
    ws.on('ping', () => (c.heardAt = this.now()));
    // A refused handshake: 429 is Binance's connection limit, 418 its ban; both say how long to wait.
    ws.on('unexpected-response', (_req, res) => {
      c.refused = res.statusCode ?? 0;
      res.resume();
      if (c.refused === 429 || c.refused === 418) {
        const waitMs = refusalWaitMs(c.refused, res.headers['retry-after']);
        this.opts.limiter.holdFor(waitMs);
        this.opts.log?.('warn', 'upstream refused the connection: no dial until its Retry-After', { shard: this.index, status: c.refused, waitMs });
      } else this.opts.log?.('warn', 'upstream refused the connection', { shard: this.index, status: c.refused });
      ws.terminate();
    });
    ws.on('error', (err) => {
      if (c.refused === undefined) this.opts.log?.('warn', 'upstream socket error', { shard: this.index, err: err.message });
    });
    ws.on('close', (code, reason) => {
      this.sockets.delete(c);
      const wasOpen = c.open;
      this.dispose(c);
      if (this.current === c) {
        this.current = undefined;
        // Said: a cut by the exchange (its limit of 5 messages a second, a maintenance) had left only the later "upstream connected".
        if (!this.ac.signal.aborted) this.opts.log?.('warn', 'upstream connection closed', { shard: this.index, code, reason: reason.toString('utf8', 0, 200) });
        this.down(`closed ${code}`);
      } else if (rotation && !c.tookOver) {
        // The replacement failed before taking over; the old socket stays current. (One that took over
        // and was rotated out in turn says nothing of the rotation in flight now.)
        this.rotating = false;
        this.rotationFailed();
      } else if (!wasOpen && !this.current) this.down(c.refused === undefined ? `connect failed ${code}` : `refused ${c.refused}`);
    });
  }

  /**
   * A replacement failed before taking over: the rotation is tried again after a backoff. Before, none
   * was: a failed rotation by age left the socket to the exchange's 24 h cut (a reconnect and a resync
   * of every series on it), and one holding a stream whose UNSUBSCRIBE was given up on kept that
   * stream's place until then. The latter is not retried once the stream settled.
   */
  private rotationFailed(): void {
    const c = this.current;
    const why = this.rotationWhy ?? 'age';
    this.rotationWhy = undefined;
    if (!c || this.ac.signal.aborted) return;
    // Settled meanwhile (the stream wanted again and subscribed): no replacement needed.
    const needed = () => why !== UNSUBSCRIBE_GIVEN_UP || this.unsettled(c);
    if (!needed()) {
      this.rotationFailures = 0;
      return;
    }
    this.rotationFailures++;
    // Up to a minute apart (not the reconnects' 10 s): the socket still carries its streams, and each
    // try spends an attempt of the budget that down shards' re-dials need.
    const base = this.backoffMs(this.rotationFailures, ROTATION_RETRY_MAX_MS);
    clearTimeout(c.retryTimer);
    c.retryTimer = setTimeout(() => needed() && this.rotate(c, why), base * (0.5 + Math.random() / 2));
  }

  /** The pause before the `n`th try in a row (from 1): doubling from the first backoff, up to `maxMs`; jittered by the caller. */
  private backoffMs(n: number, maxMs: number): number {
    return Math.min(maxMs, (this.opts.backoffInitialMs ?? 500) * 2 ** Math.min(n - 1, 16));
  }

  private schedule(c: Conn): void {
    clearTimeout(c.rotateTimer);
    c.rotateTimer = setTimeout(() => this.rotate(c, 'age'), this.opts.rotateAfterMs);
  }

  private rotate(c: Conn, why: string): void {
    // One in flight already replaces it; should it fail, it is retried for the stronger reason (an
    // age timer that fired meanwhile was dropped, and the socket ran on to the exchange's 24 h cut).
    if (this.rotating && this.current === c && why !== UNSUBSCRIBE_GIVEN_UP) this.rotationWhy = why;
    if (this.rotating || this.ac.signal.aborted || this.current !== c) return;
    this.rotating = true;
    this.rotationWhy = why;
    this.opts.log?.('info', 'rotating upstream connection (make-before-break)', { shard: this.index, why });
    void this.dial(true);
  }

  private onMessage(c: Conn, text: string): void {
    if (this.ac.signal.aborted) return;
    const at = this.now();
    c.heardAt = at;
    const reply = parseControlReply(text);
    if (reply) return this.onReply(c, reply);
    // During a rotation both sockets deliver briefly; the gap operator drops the duplicates.
    this.opts.onFrame?.(text, at);
    try {
      const frame = parseStreamFrame(text);
      if (frame.kind === 'kline') {
        // Only what this socket asked for: klines of other streams went into series and kept a socket
        // whose own streams were silent reading `live` (an attacker-style probe). One whose UNSUBSCRIBE
        // was given up on is requested and leaving: dropped quietly, unless it is wanted again.
        if (frame.stream === undefined || !c.requested.has(frame.stream) || (c.leaving.has(frame.stream) && !this.wanted.has(frame.stream))) {
          if (frame.stream !== undefined && c.leaving.has(frame.stream)) return;
          throw new MalformedFrameError('malformed upstream data: a kline of a stream not subscribed on this socket', { info: { reason: 'stream not subscribed', sample: text.slice(0, 200) } });
        }
        this.heardOf.set(frame.stream, at);
        if (this.silentNow.size) this.silentNow.delete(frame.stream);
        this.delivering(c, at);
        this.opts.emit({ type: 'kline', symbol: frame.symbol, interval: frame.interval, bar: frame.bar, receivedAt: at, eventTime: frame.eventTime });
      } else if (frame.kind === 'shutdown' && this.current) this.rotate(this.current, 'serverShutdown');
    } catch (e) {
      if (e instanceof MalformedFrameError) this.opts.onMalformed?.(e);
      else throw e;
    }
  }

  /**
   * Only klines keep a socket fresh: replies, errors or junk on a socket that delivers nothing kept it
   * from being replaced for good (an attacker-style probe). Its first kline resets the backoff and
   * tells parked shards the exchange works (reset on open, an exchange closing each socket at once
   * was dialled 159 times a minute, then the connect limiter locked the engine out for 3 minutes).
   */
  private delivering(c: Conn, at: number): void {
    this.lastFrameAt = this.lastKlineAt = at;
    this.replacedSilent = false;
    this.flow.note(at);
    this.heard = true;
    if (c.delivered) return;
    c.delivered = true;
    this.failures = 0;
    this.opts.scout?.reached(this);
  }

  private onReply(c: Conn, reply: NonNullable<ReturnType<typeof parseControlReply>>): void {
    const req = typeof reply.id === 'number' ? c.inflight.get(reply.id) : undefined;
    if (!req) {
      // Cut: the exchange's text goes into the log (one of 5 MB made one line of 5 MB).
      if (!reply.ok) this.opts.log?.('warn', 'upstream refused', { shard: this.index, code: reply.code, msg: String(reply.msg).slice(0, 200) });
      return;
    }
    clearTimeout(req.timer);
    c.inflight.delete(reply.id as number);
    if (req.method === 'UNSUBSCRIBE') for (const s of req.params) c.leaving.delete(s);
    if (reply.ok) {
      for (const s of req.params) c.attempts.delete(s);
    } else this.failed(c, req.method, req.params, req.again, `code ${reply.code}: ${String(reply.msg).slice(0, 200)}`, true);
    this.pump(c);
  }

  /**
   * A refused or unanswered request: its streams are asked for again, a few times, after a pause. Only
   * a refused SUBSCRIBE of new streams says the exchange does not hold them (it refuses a request
   * whole). Any other's streams may be held: they are counted as requested and put in `again`, and the
   * next SUBSCRIBE (still wanted) or UNSUBSCRIBE (not) settles them. An unanswered SUBSCRIBE may have
   * been applied (its reply lost or late): its streams taken out were counted as room, and one swapped
   * out before the retry was never unsubscribed, left held at the exchange (the next SUBSCRIBE at a
   * full socket was one too many: error 4, close 1008).
   *
   * Given up on after MAX_ATTEMPTS, a SUBSCRIBE's streams are left as requested. An UNSUBSCRIBE's stream
   * no longer wanted may still be held too: it stays requested (a place taken) and leaving (its frames
   * dropped quietly), and is not unsubscribed again; the socket is replaced make-before-break, as a
   * fresh one subscribes the wanted streams alone. (Counted as gone, its klines read as malformed, its
   * place as room: the next new stream's SUBSCRIBE at a full socket was one too many, error 4 and close
   * 1008, and every series on the shard went through a reconnect and a gap fill.)
   */
  private failed(c: Conn, method: ControlMethod, params: string[], again: boolean, why: string, refused: boolean): void {
    this.opts.log?.('warn', `upstream ${method} failed, will retry`, { shard: this.index, streams: params.length, why });
    c.holdUntil = this.now() + 1000;
    let stuck = 0;
    for (const s of params) {
      if (method === 'UNSUBSCRIBE') c.leaving.delete(s);
      const prev = c.attempts.get(s);
      const n = (prev?.method === method ? prev.n : 0) + 1;
      c.attempts.set(s, { method, n });
      if (n >= MAX_ATTEMPTS && method === 'SUBSCRIBE') continue;
      if (method === 'SUBSCRIBE' && refused && !again) c.requested.delete(s);
      // A SUBSCRIBE's stream unsubscribed since is settled by that UNSUBSCRIBE (the exchange applies them in order).
      else if (method === 'UNSUBSCRIBE' || c.requested.has(s)) {
        c.requested.add(s);
        c.again.add(s);
        // Wanted again, its next SUBSCRIBE settles it.
        if (n >= MAX_ATTEMPTS && method === 'UNSUBSCRIBE' && !this.wanted.has(s)) {
          c.leaving.add(s);
          stuck++;
        }
      }
    }
    if (stuck === 0) return;
    this.opts.log?.('warn', 'upstream UNSUBSCRIBE given up: replacing the connection', { shard: this.index, streams: stuck });
    // A rotation's socket not yet current is replaced once it takes over (checkReady).
    this.rotate(c, UNSUBSCRIBE_GIVEN_UP);
  }

  /** It may hold a stream whose UNSUBSCRIBE was given up on (see failed). */
  private unsettled(c: Conn): boolean {
    for (const s of c.leaving) if (c.requested.has(s)) return true;
    return false;
  }

  /**
   * Sends what brings the socket's subscriptions to the wanted streams, one paced message at a time:
   * SUBSCRIBEs first while the socket has room for them, else the UNSUBSCRIBEs that make room. (Taken
   * the other way, a stream swapped for another at the cap, as on-demand series come and go, made one
   * too many: the exchange closed the socket, and every stream on it went through a reconnect and a
   * gap fill, again at each swap.) The exchange applies a socket's messages in order, so a stream
   * counts as gone once its UNSUBSCRIBE is sent (one refused then would put it back over the cap: the
   * exchange closes the socket, and the reconnect subscribes the wanted streams alone). Streams asked
   * for again (`again`) go before all: counted in `requested` already, they need no room of their own,
   * unless more are counted than the cap (an unanswered UNSUBSCRIBE's streams, put back after others
   * took their room): the UNSUBSCRIBEs then go first, as one of them may not be held any more.
   */
  private pump(c: Conn): void {
    if (!c.open || c.pumpTimer || this.ac.signal.aborted) return;
    const batch = this.opts.batchSize ?? 200;
    for (;;) {
      const room = (this.opts.maxStreams ?? MAX_STREAMS_PER_CONNECTION) - c.requested.size;
      const sub: string[] = [];
      for (const s of c.again) {
        if (sub.length >= batch) break;
        // One no longer wanted is not asked for again: its UNSUBSCRIBE goes below, and settles it (kept
        // till then: wanted again before it is sent, as a pause may hold it, it is asked for again).
        if (room >= 0 && this.wanted.has(s)) sub.push(s);
      }
      const again = sub.length > 0;
      if (!again) {
        for (const s of this.wanted) {
          if (sub.length >= Math.min(batch, room)) break;
          if (!c.requested.has(s)) sub.push(s);
        }
      }
      const unsub: string[] = [];
      if (sub.length === 0) {
        for (const s of c.requested) {
          // One given up on (also leaving) waits for the socket's replacement.
          if (!this.wanted.has(s) && !c.leaving.has(s)) unsub.push(s);
          if (unsub.length >= batch) break;
        }
      }
      if (sub.length === 0 && unsub.length === 0) return this.checkReady(c);
      const wait = Math.max(c.holdUntil - this.now(), c.pacer.waitMs());
      if (wait > 0 || !c.pacer.take()) {
        c.pumpTimer = setTimeout(() => {
          c.pumpTimer = undefined;
          this.pump(c);
        }, Math.max(wait, 1));
        return;
      }
      const method: ControlMethod = sub.length ? 'SUBSCRIBE' : 'UNSUBSCRIBE';
      const params = sub.length ? sub : unsub;
      for (const s of params) {
        if (method === 'SUBSCRIBE') {
          c.requested.add(s);
          c.again.delete(s);
          c.leaving.delete(s);
          // Its silence counts from the ask.
          this.heardOf.set(s, this.now());
        } else {
          c.requested.delete(s);
          c.again.delete(s);
          c.leaving.add(s);
        }
      }
      this.request(c, method, params, again);
    }
  }

  private request(c: Conn, method: ControlMethod, params: string[], again: boolean): void {
    const id = this.nextId++;
    const timer = setTimeout(() => {
      if (!c.inflight.delete(id)) return;
      this.failed(c, method, params, again, 'no reply', false);
      this.pump(c);
    }, this.opts.replyTimeoutMs ?? 10_000);
    c.inflight.set(id, { method, params, again, timer, attempt: 1 });
    c.ws.send(controlRequest(method, params, id));
  }

  /** A rotation's replacement takes over once every wanted stream is subscribed and answered. */
  private checkReady(c: Conn): void {
    if (!c.rotation || this.current === c || !c.open) return;
    for (const r of c.inflight.values()) if (r.method === 'SUBSCRIBE') return;
    const old = this.current;
    this.current = c;
    c.tookOver = true;
    this.rotating = false;
    this.rotationWhy = undefined;
    this.rotationFailures = 0;
    this.failures = 0;
    this.schedule(c);
    // An UNSUBSCRIBE given up on while it was the replacement: it is replaced in turn.
    if (this.unsettled(c)) this.rotate(c, UNSUBSCRIBE_GIVEN_UP);
    if (old) {
      this.sockets.delete(old);
      this.dispose(old);
      old.ws.close(1000, 'rotated');
      return;
    }
    // The old socket closed first (a serverShutdown's close races its replacement): this one is the
    // reconnect. Its dial (or the scout's wake) is not needed: a review found it opened a second
    // socket that took over, this one left delivering duplicates unwatched until the exchange's 24 h cut.
    clearTimeout(this.reconnectTimer);
    this.opts.scout?.reached(this);
    this.opts.emit({ type: 'connected', shard: this.index, streams: [...this.wanted], resync: true });
  }
}
