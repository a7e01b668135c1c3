/**
 * The slow-client rule, apart from sockets and timers: told each socket's buffered bytes at every sweep,
 * it says which to close. A socket over `limit` (plus its first message's allowance) is closed when it
 * was already over at the previous sweep and has not drained since, or at once past twice the limit.
 * So a burst a reading client takes in at once (the points a derived series sends again after its
 * rerun, a fresh `historical` after an edge reloaded a series) costs it nothing, while one that stopped
 * reading, or reads slower than it is sent, is closed within two sweeps.
 */
export class SendBufferWatch<S> {
  /** Sockets over the limit at the last sweep, with what they held then. */
  private readonly over = new Map<S, number>();
  /** A first message's bytes a socket may hold beyond the limit until it has drained below it once. */
  private readonly allowance = new Map<S, number>();

  constructor(private readonly limit: number) {
    if (!(limit > 0)) throw new TypeError('SendBufferWatch: limit must be > 0');
  }

  /** `socket` was just sent a first message of `bytes` (above the limit, it may stay buffered on top). */
  sentFirst(socket: S, bytes: number, cap: number): void {
    if (bytes > this.limit) this.allowance.set(socket, Math.min(bytes, cap));
  }

  /** One sweep's look at a socket: true when it should be closed (it is then forgotten). */
  tooSlow(socket: S, buffered: number): boolean {
    const limit = this.limit + (this.allowance.get(socket) ?? 0);
    if (buffered <= limit) {
      this.over.delete(socket);
      if (buffered <= this.limit) this.allowance.delete(socket);
      return false;
    }
    const before = this.over.get(socket);
    if (buffered > 2 * this.limit + (this.allowance.get(socket) ?? 0) || (before !== undefined && buffered >= before)) {
      this.forget(socket);
      return true;
    }
    this.over.set(socket, buffered);
    return false;
  }

  /** The socket closed. */
  forget(socket: S): void {
    this.over.delete(socket);
    this.allowance.delete(socket);
  }

  /** Sockets tracked (for tests: nothing stays behind a closed socket). */
  get tracked(): number {
    return new Set([...this.over.keys(), ...this.allowance.keys()]).size;
  }
}
