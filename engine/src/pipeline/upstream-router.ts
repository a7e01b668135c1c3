import type { Subject } from 'rxjs';
import type { Bar } from '../domain/bar.ts';
import type { SeriesInput } from '../operators/splice-gaps.ts';
import type { UpstreamEvent } from '../sources/upstream-event.ts';

/** `btcusdt@kline_1m` → `BTCUSDT:1m` (the series key), or undefined for another kind of stream. */
export function streamKey(stream: string): string | undefined {
  const at = stream.indexOf('@kline_');
  return at > 0 ? `${stream.slice(0, at).toUpperCase()}:${stream.slice(at + 7)}` : undefined;
}

/**
 * Routes upstream events to per-series inputs. A series expected but still bootstrapping gets its live
 * bars kept (newest per open time, at most `maxEarly`), and they enter its input in order when it is
 * attached: the same frames give the same series however long bootstrap takes (what makes a replay
 * deterministic). Bars of series nobody expects are dropped (an unsubscribe still in flight).
 * A shard that reconnected sends a resync into each of its series.
 */
export class UpstreamRouter {
  private readonly inputs = new Map<string, Subject<SeriesInput>>();
  private readonly early = new Map<string, Map<number, Bar>>();

  /** `now`: the exchange's time (a lower bound), stamped on each resync. */
  constructor(
    private readonly maxEarly: number,
    private readonly now?: () => number,
  ) {}

  /** The series is being bootstrapped: keep its live bars until it is attached. */
  expect(key: string): void {
    if (!this.inputs.has(key) && !this.early.has(key)) this.early.set(key, new Map());
  }

  /** The series is live: the bars kept for it go in first, in order, then every bar as it comes. */
  attach(key: string, input: Subject<SeriesInput>): void {
    const waiting = this.early.get(key);
    this.early.delete(key);
    this.inputs.set(key, input);
    for (const bar of [...(waiting?.values() ?? [])].sort((a, b) => a.openTime - b.openTime)) input.next({ type: 'bar', bar });
  }

  /** The series ended: nothing more is routed to it or kept for it. */
  detach(key: string): void {
    this.inputs.delete(key);
    this.early.delete(key);
  }

  get attached(): number {
    return this.inputs.size;
  }

  route(ev: UpstreamEvent): void {
    if (ev.type === 'kline') {
      const key = `${ev.symbol}:${ev.interval}`;
      const input = this.inputs.get(key);
      if (input) return input.next({ type: 'bar', bar: ev.bar });
      const waiting = this.early.get(key);
      if (!waiting) return;
      waiting.set(ev.bar.openTime, ev.bar);
      if (waiting.size > this.maxEarly) waiting.delete(Math.min(...waiting.keys()));
    } else if ((ev.type === 'connected' && ev.resync) || ev.type === 'silent') {
      const resync: SeriesInput = { type: 'resync', at: this.now?.() };
      for (const stream of ev.streams) {
        const key = streamKey(stream);
        if (key) this.inputs.get(key)?.next(resync);
      }
    }
  }
}
