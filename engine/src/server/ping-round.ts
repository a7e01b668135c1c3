import { randomBytes } from 'node:crypto';
import { TurnBudget } from '../domain/turn-budget.ts';
import { CLOSE_TRY_AGAIN } from './ws-close-codes.ts';

/** Pings of a socket whose echo counts (a client may answer one after the next was sent: three fit in a timeout). */
const PINGS_KEPT = 3;
/** Sockets one task of a ping round handles, and the time a turn gives such tasks (ms). */
const PING_CHUNK = 128;
const PING_TURN_MS = 2;
/** Random bytes in a ping's payload (a client that does not read cannot guess it to answer). */
const PING_PAYLOAD_BYTES = 8;

/** What a ping round needs of a socket. */
interface Pinged {
  ping(payload: string): unknown;
  close(code: number, reason: string): void;
}

export interface PingRoundConfig<S> {
  /** The sockets served: each is pinged; one closed here is taken out. */
  sockets: Set<S>;
  /** A socket that answers no ping for this long is closed (PING_TIMEOUT_MS). */
  timeoutMs: number;
  /** Counts sockets closed for answering no ping. */
  unanswered(): void;
  /** `ws` is being closed for not reading (its address's slot is held: address-slots.ts). */
  notReading(ws: S): void;
}

/**
 * A client that does not read its socket: what it is sent sits in the kernel (about 1 MB of first
 * message each: uWS's buffer, and so the sweep (slow-clients.ts), see nothing), for as long as it keeps the
 * socket (an attacker-style probe held 256 such sockets from one address, ~225 MB of the host's TCP
 * memory, for minutes). Each socket is pinged now and then with a payload of its own; one that has
 * echoed none (a browser answers pings by itself, with their payload, even in a background tab) for
 * PING_TIMEOUT_MS is closed (1013). Any frame used to count: a client that never read but sent a pong
 * now and then kept 1,024 sockets and ~1 GB of the host's TCP memory (a later probe). A ping sits
 * behind what the socket was sent before it: it is read, and echoed, only by a client that reads.
 * A round goes in chunks, in turns of its own budget: 16,000 sockets pinged in one go held the
 * event loop 220-270 ms every round (an attacker-style probe, 64 addresses under their caps).
 */
export class PingRound<S extends Pinged> {
  /** When each socket last answered one of our pings (see the unanswered-ping check). */
  private readonly lastHeard = new Map<S, number>();
  /** The payloads of each socket's pings not answered yet, newest last (at most PINGS_KEPT). */
  private readonly pingsOut = new Map<S, string[]>();
  private readonly pingTurns = new TurnBudget(PING_TURN_MS);
  private readonly pingEvery: number;
  // When this process last came back from a stall of its own (a VM paused, SIGSTOP, a long GC): the
  // pings it could not send, and the pongs it could not read meanwhile, are not the clients' silence.
  // An edge stopped 70 s closed every client it had as not reading (an attacker-style probe).
  // Noted at every round and every chunk: a chunk queued just before a stall runs right after it,
  // before the next round's timer.
  private lastPingWork = 0;
  private resumedAt = 0;
  private pinger: NodeJS.Timeout | undefined;

  constructor(private readonly config: PingRoundConfig<S>) {
    this.pingEvery = Math.max(100, Math.floor(config.timeoutMs / 3));
  }

  /** Starts the rounds. */
  start(): void {
    this.lastPingWork = Date.now();
    this.pinger = setInterval(() => {
      this.noteStall(Date.now());
      // The previous round still going (a short PING_TIMEOUT_MS and many sockets): this one is skipped.
      if (this.pingTurns.pending > 0) return;
      const all = [...this.config.sockets];
      for (let i = 0; i < all.length; i += PING_CHUNK) {
        const chunk = all.slice(i, i + PING_CHUNK);
        this.pingTurns.run(() => this.pingSome(chunk));
      }
    }, this.pingEvery);
    this.pinger.unref();
  }

  /** `ws` opened: it has a timeout's time to answer its first ping. */
  opened(ws: S): void {
    this.lastHeard.set(ws, Date.now());
  }

  /** `ws` sent a pong with `payload`. */
  answered(ws: S, payload: ArrayBuffer): void {
    // Only a pong that echoes one of our pings proves the client reads (see the pinger).
    const out = this.pingsOut.get(ws);
    const i = out?.indexOf(Buffer.from(payload).toString('latin1')) ?? -1;
    if (i < 0) return;
    out!.splice(0, i + 1);
    this.lastHeard.set(ws, Date.now());
  }

  /** `ws` closed. */
  forget(ws: S): void {
    this.lastHeard.delete(ws);
    this.pingsOut.delete(ws);
  }

  /** Stops the rounds (at shutdown). */
  stop(): void {
    clearInterval(this.pinger);
  }

  private noteStall(now: number): void {
    if (now - this.lastPingWork > 2 * this.pingEvery + 1000) this.resumedAt = now;
    this.lastPingWork = now;
  }

  private pingSome(chunk: readonly S[]): void {
    const { sockets, timeoutMs } = this.config;
    const now = Date.now();
    this.noteStall(now);
    // One draw of random bytes for the chunk: a draw a socket cost a third of what its ping did.
    const random = randomBytes(PING_PAYLOAD_BYTES * chunk.length).toString('hex');
    chunk.forEach((ws, k) => {
      // Closed, or dropped by a sweep, since the round began.
      if (!sockets.has(ws)) return;
      if (now - Math.max(this.lastHeard.get(ws) ?? now, this.resumedAt) > timeoutMs) {
        this.config.unanswered();
        this.config.notReading(ws);
        sockets.delete(ws);
        ws.close(CLOSE_TRY_AGAIN, 'pings unanswered: not reading');
        return;
      }
      const payload = random.slice(2 * PING_PAYLOAD_BYTES * k, 2 * PING_PAYLOAD_BYTES * (k + 1));
      const out = this.pingsOut.get(ws) ?? [];
      out.push(payload);
      if (out.length > PINGS_KEPT) out.shift();
      this.pingsOut.set(ws, out);
      ws.ping(payload);
    });
  }
}
