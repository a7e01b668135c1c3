import type { ShardConn } from './shard-conn.ts';
import { type ControlMethod, type ControlReply, controlRequest } from './ws-control.ts';

/** Binance's limit of streams on one connection. */
export const MAX_STREAMS_PER_CONNECTION = 1024;

const MAX_ATTEMPTS = 3;

/** The shard's options the pump reads (see StreamShardOptions), read at each use. */
export interface ControlPumpOptions {
  index: number;
  batchSize?: number;
  maxStreams?: number;
  replyTimeoutMs?: number;
  log?: (level: 'info' | 'warn', msg: string, fields?: Record<string, unknown>) => void;
}

/** What the pump needs of its shard. */
export interface ControlPumpHost {
  /** The streams the shard is to deliver. */
  readonly wanted: ReadonlySet<string>;
  readonly signal: AbortSignal;
  now(): number;
  /** A SUBSCRIBE of `stream` is being sent. */
  asked(stream: string): void;
  /** Nothing is left to send on `c` (checkReady). */
  settled(c: ShardConn): void;
  /** An UNSUBSCRIBE on `c` was given up on: the socket is to be replaced. */
  givenUp(c: ShardConn): void;
}

/**
 * A shard's control traffic: on each of its sockets, the SUBSCRIBEs and UNSUBSCRIBEs that bring the
 * socket's subscriptions to the wanted streams, paced, every request id answered or retried.
 */
export class ControlPump {
  private nextId = 1;

  constructor(
    private readonly opts: ControlPumpOptions,
    private readonly host: ControlPumpHost,
  ) {}

  onReply(c: ShardConn, reply: ControlReply): void {
    const req = typeof reply.id === 'number' ? c.inflight.get(reply.id) : undefined;
    if (!req) {
      // Cut: the exchange's text goes into the log (one of 5 MB made one line of 5 MB).
      if (!reply.ok) this.opts.log?.('warn', 'upstream refused', { shard: this.opts.index, code: reply.code, msg: String(reply.msg).slice(0, 200) });
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
  private failed(c: ShardConn, method: ControlMethod, params: string[], again: boolean, why: string, refused: boolean): void {
    this.opts.log?.('warn', `upstream ${method} failed, will retry`, { shard: this.opts.index, streams: params.length, why });
    c.holdUntil = this.host.now() + 1000;
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
        if (n >= MAX_ATTEMPTS && method === 'UNSUBSCRIBE' && !this.host.wanted.has(s)) {
          c.leaving.add(s);
          stuck++;
        }
      }
    }
    if (stuck === 0) return;
    this.opts.log?.('warn', 'upstream UNSUBSCRIBE given up: replacing the connection', { shard: this.opts.index, streams: stuck });
    // A rotation's socket not yet current is replaced once it takes over (checkReady).
    this.host.givenUp(c);
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
  pump(c: ShardConn): void {
    if (!c.open || c.pumpTimer || this.host.signal.aborted) return;
    const batch = this.opts.batchSize ?? 200;
    for (;;) {
      const room = (this.opts.maxStreams ?? MAX_STREAMS_PER_CONNECTION) - c.requested.size;
      const sub: string[] = [];
      for (const s of c.again) {
        if (sub.length >= batch) break;
        // One no longer wanted is not asked for again: its UNSUBSCRIBE goes below, and settles it (kept
        // till then: wanted again before it is sent, as a pause may hold it, it is asked for again).
        if (room >= 0 && this.host.wanted.has(s)) sub.push(s);
      }
      const again = sub.length > 0;
      if (!again) {
        for (const s of this.host.wanted) {
          if (sub.length >= Math.min(batch, room)) break;
          if (!c.requested.has(s)) sub.push(s);
        }
      }
      const unsub: string[] = [];
      if (sub.length === 0) {
        for (const s of c.requested) {
          // One given up on (also leaving) waits for the socket's replacement.
          if (!this.host.wanted.has(s) && !c.leaving.has(s)) unsub.push(s);
          if (unsub.length >= batch) break;
        }
      }
      if (sub.length === 0 && unsub.length === 0) return this.host.settled(c);
      const wait = Math.max(c.holdUntil - this.host.now(), c.pacer.waitMs());
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
          this.host.asked(s);
        } else {
          c.requested.delete(s);
          c.again.delete(s);
          c.leaving.add(s);
        }
      }
      this.request(c, method, params, again);
    }
  }

  private request(c: ShardConn, method: ControlMethod, params: string[], again: boolean): void {
    const id = this.nextId++;
    const timer = setTimeout(() => {
      if (!c.inflight.delete(id)) return;
      this.failed(c, method, params, again, 'no reply', false);
      this.pump(c);
    }, this.opts.replyTimeoutMs ?? 10_000);
    c.inflight.set(id, { method, params, again, timer, attempt: 1 });
    c.ws.send(controlRequest(method, params, id));
  }
}
