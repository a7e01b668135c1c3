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
  /** Bytes buffered at the last sweep, and left buffered by first messages sent since: in all, and per address. */
  private lastTotal = 0;
  private pending = 0;
  private lastByAddress = new Map<string, number>();
  private pendingByAddress = new Map<string, number>();
  /** The client address of each socket sent a first message. */
  private readonly addressOf = new Map<S, string>();
  /** Sockets holding bytes: what they held at the last sweep and since when it has not gone down. */
  private readonly holding = new Map<S, { buffered: number; since: number }>();

  constructor(
    readonly total: number,
    readonly perAddress: number,
    readonly stuckMs: number,
  ) {
    if (!(total > 0) || !(perAddress > 0) || !(stuckMs > 0)) throw new TypeError('SendBudget: total, perAddress and stuckMs must be > 0');
  }

  /** Whether a first message of `bytes` to a client at `address` (an IPv6 one: its /48) may be sent now (all of it may stay buffered). */
  admit(address: string, bytes: number): boolean {
    // An address holding nothing is served even with the total full (the next sweep closes the largest
    // sockets that do not drain): else a few addresses that read nothing had everyone else refused.
    const mine = (this.lastByAddress.get(address) ?? 0) + (this.pendingByAddress.get(address) ?? 0);
    if (mine === 0) return true;
    return this.lastTotal + this.pending + bytes <= this.total && mine + bytes <= this.perAddress;
  }

  /** A first message was sent to `socket` of `address`; `bufferedAfter` of its bytes stayed in its buffer. */
  sent(socket: S, address: string, bufferedAfter: number): void {
    this.addressOf.set(socket, address);
    this.pending += bufferedAfter;
    this.pendingByAddress.set(address, (this.pendingByAddress.get(address) ?? 0) + bufferedAfter);
  }

  /** Bytes buffered at the last sweep. */
  get buffered(): number {
    return this.lastTotal;
  }

  /** One look at every socket's buffered bytes: the sockets to close (forgotten), `stuck` or to bring the total, or an address's share, under its bound. */
  sweep(sockets: Iterable<readonly [S, number]>, now: number): { stuck: S[]; over: S[] } {
    const stuck: S[] = [];
    const undrained: Array<readonly [S, number, string]> = [];
    let sum = 0;
    const byAddress = new Map<string, number>();
    for (const [s, buffered] of sockets) {
      if (buffered <= 0) {
        this.holding.delete(s);
        continue;
      }
      const was = this.holding.get(s);
      const drained = !was || buffered < was.buffered;
      if (drained) this.holding.set(s, { buffered, since: now });
      else {
        was.buffered = buffered;
        if (now - was.since >= this.stuckMs) {
          stuck.push(s);
          this.forget(s);
          continue;
        }
      }
      const address = this.addressOf.get(s) ?? '';
      sum += buffered;
      byAddress.set(address, (byAddress.get(address) ?? 0) + buffered);
      if (!drained) undrained.push([s, buffered, address]);
    }
    const over: S[] = [];
    undrained.sort((a, b) => b[1] - a[1]);
    for (const [s, buffered, address] of undrained) {
      const mine = byAddress.get(address)!;
      if (sum <= this.total && mine <= this.perAddress) continue;
      over.push(s);
      this.forget(s);
      sum -= buffered;
      byAddress.set(address, mine - buffered);
    }
    this.lastTotal = sum;
    this.pending = 0;
    this.lastByAddress = byAddress;
    this.pendingByAddress = new Map();
    return { stuck, over };
  }

  /** The socket closed. */
  forget(socket: S): void {
    this.holding.delete(socket);
    this.addressOf.delete(socket);
  }

  /** Sockets tracked (for tests: nothing stays behind a closed socket). */
  get tracked(): number {
    return new Set([...this.holding.keys(), ...this.addressOf.keys()]).size;
  }
}
