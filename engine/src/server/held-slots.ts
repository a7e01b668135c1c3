/** A hold grows at most to this many times the base hold (5 min by default: 5 h 20 min). */
export const MAX_HOLD_FACTOR = 64;
/** Addresses whose strikes are remembered (the least recently struck is forgotten first). */
const MAX_ADDRESSES = 10_000;

/**
 * Connection slots kept counted for a while after their socket went. A socket the engine closes for
 * not reading still holds what it was sent in the kernel: closing it cannot finish while the client's
 * window is zero, and once its descriptor is closed the kernel keeps it, data and all, as an orphan
 * for as long as the client acknowledges its probes (an attacker-style probe: still held after 350 s).
 * Released at once, its address's slot let the address open another: one address so held four times
 * its cap of such sockets (1,024 against a cap of 256, 261 MB of send queues while the engine held
 * none of them). Held, the cap bounds what an address's sockets keep in the kernel per hold; and as an
 * orphan can outlive any hold, an address that does it again within its hold is held twice as long
 * each time (up to MAX_HOLD_FACTOR times), so what it keeps grows with the log of the time, not the
 * time: at a fixed hold it grew by the cap's worth every hold for as long as it went on.
 */
export class HeldSlots {
  private readonly timers = new Set<NodeJS.Timeout>();
  /** Per address: the hold its last strike began, and when (strikes within a hold of each other escalate). */
  private readonly strikes = new Map<string, { holdMs: number; at: number }>();
  private readonly now: () => number;

  constructor(
    private readonly holdMs: number,
    now?: () => number,
  ) {
    this.now = now ?? Date.now;
  }

  /** Runs `release` once the address's hold is over (at once with a hold of 0). */
  hold(address: string, release: () => void): void {
    if (this.holdMs <= 0) return release();
    const ms = this.holdOf(address);
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      release();
    }, ms);
    timer.unref();
    this.timers.add(timer);
  }

  /**
   * The hold for a slot of `address` now: the base hold, or, while an earlier strike's hold runs (or
   * within one more of it), twice that strike's. Slots closed together (one strike) share one hold.
   */
  private holdOf(address: string): number {
    const now = this.now();
    const last = this.strikes.get(address);
    let holdMs = this.holdMs;
    if (last && now - last.at < this.holdMs) holdMs = last.holdMs;
    else if (last && now - last.at < 2 * last.holdMs) holdMs = Math.min(last.holdMs * 2, this.holdMs * MAX_HOLD_FACTOR);
    if (!last || holdMs !== last.holdMs || now - last.at >= this.holdMs) {
      this.strikes.delete(address);
      this.strikes.set(address, { holdMs, at: now });
      for (const key of this.strikes.keys()) {
        if (this.strikes.size <= MAX_ADDRESSES) break;
        this.strikes.delete(key);
      }
    }
    return holdMs;
  }

  /** Slots held now. */
  get size(): number {
    return this.timers.size;
  }

  /** Drops every hold without releasing (the server stops: nothing is counted any more). */
  clear(): void {
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    this.strikes.clear();
  }
}
