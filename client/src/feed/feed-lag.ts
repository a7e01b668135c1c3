/**
 * How late this browser handles the feed. Each `live_candle` carries the engine's send time (`at`);
 * arrival minus send is the two clocks' offset plus the delay on the way. The offset stays (a clock
 * step aside), so the least value a connection has seen is the offset plus the quickest delivery,
 * and what an update takes beyond it is time it waited: in a main thread that cannot keep up above
 * all (a chart soak: a 1s chart fed faster than it could draw fell minutes behind while it looked
 * live, since a late forming bar also moves the clock skew back, exchange-clock.ts), or in a queue
 * on the network. One estimate per connection: a new socket starts without a backlog.
 */
export class FeedLag {
  private base = Infinity;

  /** The lag of an update sent at `at` (engine clock) and handled at `now` (this clock), in ms. */
  observe(at: number, now: number): number {
    const d = now - at;
    if (d < this.base) this.base = d;
    return d - this.base;
  }

  reset(): void {
    this.base = Infinity;
  }
}
