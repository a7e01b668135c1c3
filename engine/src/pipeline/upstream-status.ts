import { asyncScheduler, Observable, type SchedulerLike, timer } from 'rxjs';
import type { UpstreamState } from '../broadcast/hub.ts';
import type { UpstreamEvent } from '../sources/upstream-event.ts';

export interface UpstreamStatus {
  state: UpstreamState;
  /** Shards connected now. */
  shards: number;
  /** Shards whose connection dropped and is not back yet: their series' clients are told `reconnecting` alone (see series-status.ts). */
  down: readonly number[];
  /** When the last kline frame arrived (scheduler time), if ever. */
  lastFrameAt: number | undefined;
}

export interface UpstreamStatusConfig {
  /** No frame for min(this, 10 s) while connected reads as stale… */
  staleAfterMs: number;
  /** …or for longer, as long as the shards find it normal (a quiet shard of illiquid pairs: see quiet-allowance.ts). */
  quietMs?: () => number;
  /** True once the upstream will send nothing more (a replay played its last frame): connected, it reads `ended`, never stale. */
  ended?: () => boolean;
  tickMs?: number;
  scheduler?: SchedulerLike;
}

/**
 * The upstream's state for clients' badges, from the shards' events: `reconnecting` while no shard
 * is up, and after a connect until its first frame (for up to the stale time); `stale` when no frame
 * came for a while; else `live`. A shard down while others are up is said in `down`, for its own
 * series' clients: before, one of the whole exchange's connections dropping told every chart
 * `reconnecting`. A connect does not restart
 * the silence clock: a connection that replaced a silent one during an exchange's freeze read `live`
 * (and /health 200) with nothing coming (an attacker-style probe). Emits on every shard event, on
 * the first frame after a state other than `live` and on every tick (so ages stay fresh); other
 * kline events only move the last-frame time. Once `ended()` (a replay played its last frame) a
 * connected upstream reads `ended` (said at the next tick). Pair with `distinctUntilChanged` on `state` for the badge.
 *
 * ```
 * events: --c--k-k-----------d----c-k--
 * tick:   ----t-----t-----t-----t------t
 * state:  --RR-L----L-----S--R--R-RL---L   (L live, S stale, R reconnecting)
 * ```
 * @param staleAfterMs silence after which a connected upstream reads as stale (capped at 10 s)
 * @param ended whether the upstream has ended for good (default never)
 * @param tickMs how often the state is re-evaluated without events (default 1000)
 * @param scheduler time source (default asyncScheduler)
 */
export function upstreamStatus$(events$: Observable<UpstreamEvent>, config: UpstreamStatusConfig): Observable<UpstreamStatus> {
  const { staleAfterMs, quietMs, ended, tickMs = 1000, scheduler = asyncScheduler } = config;
  if (!(staleAfterMs > 0)) throw new TypeError('upstreamStatus$: staleAfterMs must be > 0');
  const staleMs = Math.min(10_000, staleAfterMs);
  return new Observable<UpstreamStatus>((subscriber) => {
    const up = new Set<number>();
    const down = new Set<number>();
    let lastFrameAt: number | undefined;
    let connectedAt: number | undefined;
    let last: UpstreamState | undefined;
    const stateAt = (now: number): UpstreamState => {
      if (up.size === 0) return 'reconnecting';
      if (ended?.()) return 'ended';
      if (lastFrameAt !== undefined && now - lastFrameAt <= Math.max(staleMs, quietMs?.() ?? 0)) return 'live';
      // Nothing since a while before the last connect: coming back until frames come, then stale.
      return connectedAt !== undefined && now - connectedAt <= staleMs ? 'reconnecting' : 'stale';
    };
    const emit = () => {
      last = stateAt(scheduler.now());
      subscriber.next({ state: last, shards: up.size, down: [...down], lastFrameAt });
    };
    // Ticks end with the events (teardown below): a finished upstream is not ticked forever.
    const ticks = timer(tickMs, tickMs, scheduler).subscribe(() => emit());
    const events = events$.subscribe({
      next: (ev) => {
        switch (ev.type) {
          case 'kline':
            lastFrameAt = scheduler.now();
            // Said at once when it changes what clients were told (one comparison per frame otherwise).
            if (last !== 'live' && stateAt(lastFrameAt) !== last) emit();
            return;
          case 'connected':
            up.add(ev.shard);
            down.delete(ev.shard);
            connectedAt = scheduler.now();
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
