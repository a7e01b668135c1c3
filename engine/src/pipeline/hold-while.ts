import { asyncScheduler, Observable, type OperatorFunction, type SchedulerLike, type Subscription } from 'rxjs';

export interface HoldWhileConfig {
  /** Whether a value that comes now is held (read at each value). */
  hold: () => boolean;
  /** How long each held value is held (ms). */
  delayMs: number;
  /** Most values held at once: past it, those held go at once (memory stays bounded). */
  maxHeld: number;
  scheduler?: SchedulerLike;
}

/**
 * Holds each value `delayMs` while `hold()` says so; values keep their order, and none is lost. A
 * value that comes while others are held waits behind them; once `hold()` is false the next value
 * lets every held one go first. Completion and errors come after what was held.
 *
 * ```
 * source:  a-b-----c|      hold: () => true, delayMs: 3 frames
 * result:  ---a-b---(c|)
 * ```
 *
 * Why (ROLE=ingest): a standby runs the leader's whole pipeline on the same exchange ticks. Sharing
 * a machine with the leader, the edges and Redis (one host in docker-compose, the bench), it took
 * the cores at the moment of each tick, while the leader's write, Redis and the edges' fan-out were
 * on the path to the clients. Held a moment (STANDBY_LAG_MS), its work comes after theirs; it only
 * serves failover, whose heal rewrites the tail anyway.
 *
 * @param config.hold read for every value: held while it returns true.
 * @param config.delayMs how long a held value waits (≥ 0).
 * @param config.maxHeld past this many held values, they all go at once (≥ 1).
 * @param config.scheduler for the timer and the clock (default asyncScheduler).
 * @throws TypeError when built with a negative delay or a maxHeld below 1.
 */
export function holdWhile<T>(config: HoldWhileConfig): OperatorFunction<T, T> {
  const { hold, delayMs, maxHeld, scheduler = asyncScheduler } = config;
  if (!(delayMs >= 0)) throw new TypeError(`holdWhile: delayMs must be ≥ 0, got ${delayMs}`);
  if (!(maxHeld >= 1)) throw new TypeError(`holdWhile: maxHeld must be ≥ 1, got ${maxHeld}`);
  return (source) =>
    new Observable<T>((subscriber) => {
      /** Held values with when each may go; from `head` on (those before it went). */
      let held: Array<{ value: T; due: number }> = [];
      let head = 0;
      let timer: Subscription | undefined;
      let releasing = false;
      /** Lets go, in order, of the held values that are due (all of them with `all`), then waits for the next. */
      const release = (all: boolean): void => {
        timer?.unsubscribe();
        timer = undefined;
        // A value coming while values are let go (a downstream that makes the source emit) goes in this round.
        if (releasing) return;
        releasing = true;
        try {
          const now = scheduler.now();
          while (head < held.length && !subscriber.closed && (all || held[head]!.due <= now)) subscriber.next(held[head++]!.value);
        } finally {
          releasing = false;
        }
        if (head === held.length || subscriber.closed) {
          held = [];
          head = 0;
        } else {
          if (head > 1024 && head * 2 > held.length) {
            held = held.slice(head);
            head = 0;
          }
          timer = scheduler.schedule(() => release(false), Math.max(0, held[head]!.due - scheduler.now()));
        }
      };
      const sub = source.subscribe({
        next: (value) => {
          const waiting = held.length - head;
          if (releasing) held.push({ value, due: -Infinity });
          else if (hold()) {
            if (waiting >= maxHeld) release(true);
            held.push({ value, due: scheduler.now() + delayMs });
            timer ??= scheduler.schedule(() => release(false), delayMs);
          } else if (waiting > 0) {
            held.push({ value, due: -Infinity });
            release(true);
          } else subscriber.next(value);
        },
        error: (e: unknown) => {
          release(true);
          subscriber.error(e);
        },
        complete: () => {
          release(true);
          subscriber.complete();
        },
      });
      return () => {
        sub.unsubscribe();
        timer?.unsubscribe();
        held = [];
        head = 0;
      };
    });
}
