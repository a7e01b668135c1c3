import { asyncScheduler, Observable, type SchedulerLike, timer } from 'rxjs';
import type { UpstreamState } from '../broadcast/hub.ts';
import type { UpstreamEvent } from '../sources/upstream-event.ts';

export interface UpstreamStatus {
  state: UpstreamState;
  /** Shards connected now. */
  shards: number;
  /** When the last kline frame arrived (scheduler time), if ever. */
  lastFrameAt: number | undefined;
}

export interface UpstreamStatusConfig {
  /** No frame for min(this, 10 s) while connected reads as stale. */
  staleAfterMs: number;
  tickMs?: number;
  scheduler?: SchedulerLike;
}

/**
 * The upstream's state for clients' badges and /health, from the shards' events: `reconnecting`
 * while any shard is down (or none is up), `stale` when no frame came for a while, else `live`.
 * Emits on every shard event and on every tick (so ages stay fresh); kline events only move the
 * last-frame time. Pair with `distinctUntilChanged` on `state` for the badge.
 *
 * ```
 * events: --c---k-k-k--------------d----c--k--
 * tick:   ----t-----t-----t-----t------t----t-
 * state:  --L-L-----L-----S-----S--R---LR---L-   (L live, S stale, R reconnecting)
 * ```
 * @param staleAfterMs silence after which a connected upstream reads as stale (capped at 10 s)
 * @param tickMs how often the state is re-evaluated without events (default 1000)
 * @param scheduler time source (default asyncScheduler)
 */
export function upstreamStatus$(events$: Observable<UpstreamEvent>, config: UpstreamStatusConfig): Observable<UpstreamStatus> {
  const { staleAfterMs, tickMs = 1000, scheduler = asyncScheduler } = config;
  if (!(staleAfterMs > 0)) throw new TypeError('upstreamStatus$: staleAfterMs must be > 0');
  const staleMs = Math.min(10_000, staleAfterMs);
  return new Observable<UpstreamStatus>((subscriber) => {
    const up = new Set<number>();
    const down = new Set<number>();
    let lastFrameAt: number | undefined;
    const emit = () => {
      const now = scheduler.now();
      const state: UpstreamState =
        down.size > 0 || up.size === 0 ? 'reconnecting' : lastFrameAt !== undefined && now - lastFrameAt > staleMs ? 'stale' : 'live';
      subscriber.next({ state, shards: up.size, lastFrameAt });
    };
    // Ticks end with the events (teardown below): a finished upstream is not ticked forever.
    const ticks = timer(tickMs, tickMs, scheduler).subscribe(() => emit());
    const events = events$.subscribe({
      next: (ev) => {
        switch (ev.type) {
          case 'kline':
            lastFrameAt = scheduler.now();
            return;
          case 'connected':
            up.add(ev.shard);
            down.delete(ev.shard);
            // A fresh connection starts its silence clock now.
            lastFrameAt = scheduler.now();
            return emit();
          case 'disconnected':
            up.delete(ev.shard);
            down.add(ev.shard);
            return emit();
          case 'closed':
            up.delete(ev.shard);
            down.delete(ev.shard);
            return emit();
        }
      },
      error: (e: unknown) => subscriber.error(e),
      complete: () => subscriber.complete(),
    });
    return () => {
      ticks.unsubscribe();
      events.unsubscribe();
    };
  });
}
