/**
 * Connection slots kept counted for a while after their socket went. A socket the engine closes for
 * not reading still holds what it was sent in the kernel: closing it cannot finish while the client's
 * window is zero, and once its descriptor is closed the kernel keeps it, data and all, as an orphan
 * for minutes more. Released at once, its address's slot let the address open another: one address
 * so held four times its cap of such sockets (an attacker-style probe: 1,024 against a cap of 256,
 * 2 × 128 with 261 MB of send queues while the engine held none of them). Held for about an orphan's
 * life, the cap bounds what an address's sockets keep in the kernel.
 */
export class HeldSlots {
  private readonly timers = new Set<NodeJS.Timeout>();

  constructor(private readonly holdMs: number) {}

  /** Runs `release` once the hold is over (at once with a hold of 0). */
  hold(release: () => void): void {
    if (this.holdMs <= 0) return release();
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      release();
    }, this.holdMs);
    timer.unref();
    this.timers.add(timer);
  }

  /** Slots held now. */
  get size(): number {
    return this.timers.size;
  }

  /** Drops every hold without releasing (the server stops: nothing is counted any more). */
  clear(): void {
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
  }
}
