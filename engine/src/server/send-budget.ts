/**
 * The send buffers of all sockets together, and sockets that hold bytes without reading any. The
 * per-socket rule (SendBufferWatch) lets each socket keep up to its limit, plus its first message: an
 * attacker-style probe held 2,048 sockets from 8 addresses, each asking for 15 derived series (a
 * 967 KB first message) and reading nothing, and the engine kept ~0.5 MB of each in its own memory
 * (RSS 131 → 1,226 MB, a 3–5 s stall while it was copied in) until the 60 s ping timeout; glibc did
 * not give the memory back after.
 *
 * So: a socket whose buffer has not gone down for `stuckMs` is closed (a reader drains some between
 * two looks, however slow its link); and while the buffers of sockets that did not drain since the
 * last look together pass `total`, those holding most are closed; a first message that would pass
 * it is refused before it is sent (the client tries again shortly).
 */
export class SendBudget<S> {
  /** Bytes buffered at the last sweep, and left buffered by first messages sent since. */
  private lastTotal = 0;
  private pending = 0;
  /** Sockets holding bytes: what they held at the last sweep and since when it has not gone down. */
  private readonly holding = new Map<S, { buffered: number; since: number }>();

  constructor(
    readonly total: number,
    readonly stuckMs: number,
  ) {
    if (!(total > 0) || !(stuckMs > 0)) throw new TypeError('SendBudget: total and stuckMs must be > 0');
  }

  /** Whether a first message of `bytes` may be sent now (all of it may stay buffered). */
  admit(bytes: number): boolean {
    return this.lastTotal + this.pending + bytes <= this.total;
  }

  /** A first message was sent; `bufferedAfter` of the socket's bytes stayed in its buffer. */
  sent(bufferedAfter: number): void {
    this.pending += bufferedAfter;
  }

  /** Bytes buffered at the last sweep. */
  get buffered(): number {
    return this.lastTotal;
  }

  /** One look at every socket's buffered bytes: the sockets to close (forgotten), `stuck` or to bring the total under `total`. */
  sweep(sockets: Iterable<readonly [S, number]>, now: number): { stuck: S[]; over: S[] } {
    const stuck: S[] = [];
    const undrained: Array<readonly [S, number]> = [];
    let sum = 0;
    for (const [s, buffered] of sockets) {
      if (buffered <= 0) {
        this.holding.delete(s);
        continue;
      }
      const was = this.holding.get(s);
      if (!was || buffered < was.buffered) {
        this.holding.set(s, { buffered, since: now });
        sum += buffered;
        continue;
      }
      was.buffered = buffered;
      if (now - was.since >= this.stuckMs) {
        stuck.push(s);
        this.holding.delete(s);
        continue;
      }
      sum += buffered;
      undrained.push([s, buffered]);
    }
    const over: S[] = [];
    if (sum > this.total) {
      undrained.sort((a, b) => b[1] - a[1]);
      for (const [s, buffered] of undrained) {
        if (sum <= this.total) break;
        over.push(s);
        this.holding.delete(s);
        sum -= buffered;
      }
    }
    this.lastTotal = sum;
    this.pending = 0;
    return { stuck, over };
  }

  /** The socket closed. */
  forget(socket: S): void {
    this.holding.delete(socket);
  }

  /** Sockets tracked (for tests: nothing stays behind a closed socket). */
  get tracked(): number {
    return this.holding.size;
  }
}
