import { MalformedFrameError } from '../domain/errors.ts';
import { parseStreamFrame } from './binance-raw.ts';
import type { ConnectLimiter } from './connect-limiter.ts';
import type { ReconnectScout } from './reconnect-scout.ts';
import { parseControlReply } from './ws-control.ts';
import { refusalWaitMs } from './retry-after.ts';
import type { UpstreamEvent } from './upstream-event.ts';
import { ControlPump } from './control-pump.ts';
import { SilenceWatch } from './silence-watch.ts';
import { type ShardConn, disposeConn, holdsGivenUp, openShardConn } from './shard-conn.ts';

export { MAX_STREAMS_PER_CONNECTION } from './control-pump.ts';
export { MAX_FRAME_BYTES } from './shard-conn.ts';

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

/** A rotation's reason that needs no retry once the stuck stream settled. */
const UNSUBSCRIBE_GIVEN_UP = 'unsubscribe given up';
/** Longest pause between tries of a failed rotation. */
const ROTATION_RETRY_MAX_MS = 60_000;

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
  private readonly sockets = new Set<ShardConn>();
  private readonly ac = new AbortController();
  private readonly now: () => number;
  private current: ShardConn | undefined;
  private rotating = false;
  /** Replacements that failed in a row before taking over (a retried rotation's backoff). */
  private rotationFailures = 0;
  /** Why the rotation in flight was started: age and a server's shutdown notice outrank a given-up UNSUBSCRIBE. */
  private rotationWhy: string | undefined;
  private everConnected = false;
  private failures = 0;
  /** Down while it had no stream to carry (a shard in its empty grace): not dialled again until it has one. */
  private idleDown = false;
  /** What it heard and when: its staleness, and its streams gone silent. */
  private readonly watch: SilenceWatch;
  /** Each socket's SUBSCRIBE/UNSUBSCRIBE traffic. */
  private readonly control: ControlPump;
  private reconnectTimer: NodeJS.Timeout | undefined;
  private readonly staleTimer: NodeJS.Timeout;

  constructor(private readonly opts: StreamShardOptions) {
    this.now = opts.now ?? Date.now;
    this.watch = new SilenceWatch(opts, this.wanted, this.now);
    this.control = new ControlPump(opts, {
      wanted: this.wanted,
      signal: this.ac.signal,
      now: this.now,
      asked: (s) => this.watch.asked(s),
      settled: (c) => this.checkReady(c),
      givenUp: (c) => this.rotate(c, UNSUBSCRIBE_GIVEN_UP),
    });
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
    return this.watch.silentCount;
  }

  /** Their names (see `silent`). */
  silentStreams(): readonly string[] {
    return this.watch.silentStreams();
  }

  /** No kline for longer than the shard finds normal: its series' clients are told `stale` (see SilenceWatch's `stale`). */
  get stale(): boolean {
    return this.watch.stale(this.connected);
  }

  add(streams: readonly string[]): void {
    // A shard that had nothing to deliver was legitimately silent: its silence starts now.
    if (this.wanted.size === 0) this.watch.restart();
    for (const s of streams) this.wanted.add(s);
    this.watch.measure();
    this.pumpAll();
    if (this.idleDown && this.wanted.size > 0) {
      this.idleDown = false;
      void this.dial(false);
    }
  }

  remove(streams: readonly string[]): void {
    for (const s of streams) {
      this.wanted.delete(s);
      this.watch.forget(s);
    }
    this.watch.measure();
    this.pumpAll();
  }

  /** The silence that is normal for this shard now (see quiet-allowance.ts). */
  quietAllowanceMs(): number {
    return this.watch.quietAllowanceMs();
  }

  /** Closes every socket and clears every timer. */
  stop(): void {
    this.ac.abort();
    clearInterval(this.staleTimer);
    clearTimeout(this.reconnectTimer);
    this.opts.scout?.left(this);
    for (const c of this.sockets) {
      disposeConn(c);
      c.ws.terminate();
    }
    this.sockets.clear();
  }

  private pumpAll(): void {
    for (const c of this.sockets) this.control.pump(c);
  }

  private checkStale(): void {
    const c = this.current;
    if (!c || !c.open) return;
    const now = this.now();
    const verdict = this.watch.judge(c.heardAt, now);
    if (verdict === 'idle') return;
    if (verdict === 'fresh') return this.checkStreams(c, now);
    const dead = verdict === 'dead';
    this.opts.log?.('warn', dead ? 'upstream connection dead (no ping), replacing' : 'upstream connection stale, replacing', { shard: this.index, silentMs: this.watch.silentMs(now) });
    this.current = undefined;
    disposeConn(c);
    c.ws.terminate();
    if (!dead) this.watch.replacedForSilence();
    this.down(dead ? 'dead' : 'stale');
  }

  /** Streams silent while the socket delivers others are subscribed again (see SilenceWatch's `findSilent`). */
  private checkStreams(c: ShardConn, now: number): void {
    const silent = this.watch.findSilent(c.requested, c.again, now);
    if (!silent) return;
    this.opts.log?.('warn', 'upstream streams silent while others deliver: subscribing them again', { shard: this.index, streams: silent.length, sample: silent.slice(0, 5).join(',') });
    this.opts.emit({ type: 'silent', shard: this.index, streams: silent });
    this.control.pump(c);
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

  /** Opens a socket; a rotation's keeps the old one delivering until it has subscribed everything. */
  private async dial(rotation: boolean): Promise<void> {
    try {
      await this.opts.limiter.acquire(this.ac.signal, !rotation && !this.everConnected);
    } catch {
      return; // stopped
    }
    // A rotation's socket took over while this dial waited its turn.
    if (this.ac.signal.aborted || (!rotation && this.current)) return;
    const c = openShardConn(this.opts.wsUrl, rotation, this.opts.sendsPerSecond ?? 3, this.now);
    const ws = c.ws;
    this.sockets.add(c);
    ws.on('open', () => {
      if (this.ac.signal.aborted) return;
      if (!rotation && this.current) {
        // A rotation's socket took over while this one connected: one socket per shard.
        this.sockets.delete(c);
        disposeConn(c);
        c.ws.close(1000, 'superseded');
        return;
      }
      c.open = true;
      this.opts.log?.('info', 'upstream connected', { shard: this.index, streams: this.wanted.size, rotation });
      if (!rotation) {
        this.watch.connected();
        this.current = c;
        c.tookOver = true;
        this.rotationFailures = 0;
        this.schedule(c);
        this.opts.emit({ type: 'connected', shard: this.index, streams: [...this.wanted], resync: this.everConnected });
        this.everConnected = true;
      }
      this.control.pump(c);
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
      disposeConn(c);
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
    const needed = () => why !== UNSUBSCRIBE_GIVEN_UP || holdsGivenUp(c);
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

  private schedule(c: ShardConn): void {
    clearTimeout(c.rotateTimer);
    c.rotateTimer = setTimeout(() => this.rotate(c, 'age'), this.opts.rotateAfterMs);
  }

  private rotate(c: ShardConn, why: string): void {
    // One in flight already replaces it; should it fail, it is retried for the stronger reason (an
    // age timer that fired meanwhile was dropped, and the socket ran on to the exchange's 24 h cut).
    if (this.rotating && this.current === c && why !== UNSUBSCRIBE_GIVEN_UP) this.rotationWhy = why;
    if (this.rotating || this.ac.signal.aborted || this.current !== c) return;
    this.rotating = true;
    this.rotationWhy = why;
    this.opts.log?.('info', 'rotating upstream connection (make-before-break)', { shard: this.index, why });
    void this.dial(true);
  }

  private onMessage(c: ShardConn, text: string): void {
    if (this.ac.signal.aborted) return;
    const at = this.now();
    c.heardAt = at;
    const reply = parseControlReply(text);
    if (reply) return this.control.onReply(c, reply);
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
        this.watch.kline(frame.stream, at);
        this.delivering(c);
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
  private delivering(c: ShardConn): void {
    if (c.delivered) return;
    c.delivered = true;
    this.failures = 0;
    this.opts.scout?.reached(this);
  }

  /** A rotation's replacement takes over once every wanted stream is subscribed and answered. */
  private checkReady(c: ShardConn): void {
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
    if (holdsGivenUp(c)) this.rotate(c, UNSUBSCRIBE_GIVEN_UP);
    if (old) {
      this.sockets.delete(old);
      disposeConn(old);
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
