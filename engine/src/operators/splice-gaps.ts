import {
  asyncScheduler,
  catchError,
  ignoreElements,
  concatMap,
  defer,
  EMPTY,
  from,
  type ObservableInput,
  type OperatorFunction,
  of,
  reduce,
  retry,
  type SchedulerLike,
  type Subscription,
  tap,
  throwError,
  timeout,
  timer,
  concat,
  Observable,
} from 'rxjs';
import { type Bar, sameBar } from '../domain/bar.ts';
import { GapFillError } from '../domain/errors.ts';
import { nextOpen, parseInterval } from '../domain/interval.ts';

/**
 * What enters one series' pipeline: a live bar, or a request to re-sync from REST (after a reconnect).
 * A resync's `at` is the exchange's time when the connection came back (its lower bound): a series
 * whose newest bar is still forming then lost no close, and is not fetched (see `onResync`).
 */
export type SeriesInput = { type: 'bar'; bar: Bar } | { type: 'resync'; at?: number };

/**
 * A resync is skipped only if the newest bar's bucket is open this long after `at`: the exchange's
 * time is a lower bound, and its final arrives a little after the bucket's end.
 */
const RESYNC_MARGIN_MS = 2000;

/** What leaves it: bars in order, plus typed events for every gap so none is silent. */
export type SpliceEvent =
  /** `origin` is 'live' for stream updates, 'fill' for REST bars spliced in order, 'repair' for a late fill of an older hole. */
  | { type: 'bar'; bar: Bar; origin: 'live' | 'fill' | 'repair' }
  | { type: 'gap'; from: number; to: number; reason: 'skip' | 'unclosed' | 'resync' }
  | { type: 'gap-filled'; from: number; to: number; bars: number }
  | { type: 'gap-unfilled'; error: GapFillError };

export interface SpliceGapsConfig {
  /** Interval of the series (gaps are measured in it). */
  interval: string;
  /** Series key, for errors and logs. */
  key?: string;
  /** Newest bar already known (store/bootstrap), read when the operator is subscribed. */
  seed?: () => Bar | undefined;
  /** REST: bars with openTime in [from, to] (`to` undefined: up to now, forming bar included), in pages. */
  fetchRange: (from: number, to: number | undefined) => ObservableInput<Bar[]>;
  /** Retries of one fill before it is reported unfilled. */
  retryCount?: number;
  retryDelayMs?: number;
  /** An unfilled hole is tried again on the first input after this long (doubled after each failed repair, up to 8×; given up after 8). */
  repairAfterMs?: number;
  /**
   * The longest one fill (every retry included) may hold the series' live updates back; then it
   * is reported unfilled and repaired later, and the live updates go on.
   */
  fillDeadlineMs?: number;
  scheduler?: SchedulerLike;
}

/** A hole that keeps failing is tried at most this many doublings of `repairAfterMs` apart… */
const REPAIR_BACKOFF_DOUBLINGS = 3;
/** …and given up after this many failed repairs (about 23 min at the default 30 s): the store keeps the hole, which a restart's bootstrap fetches again. */
const MAX_REPAIRS = 8;

interface Hole {
  from: number;
  /** undefined: up to the exchange's now when it is fetched again (a resync's open end). */
  to: number | undefined;
  attempt: number;
  /** Repairs of it that failed so far (each doubles the wait before the next). */
  repairs: number;
  /** Tried again on the first input from this time on. */
  dueAt: number;
  /** The bar at `from` was streamed (an unclosed one): the exchange's answer must hold it. */
  streamed: boolean;
}

/**
 * Keeps one series whole: drops duplicates and stale updates, upserts the forming bar, and splices
 * REST-fetched bars in before the live bar that revealed a gap. A bar that was still forming when a
 * newer one opened (its final update missing or late) is finalised from REST; a `resync` input
 * re-fetches from the newest known bar (after a reconnect). Fills are retried; a fill that keeps
 * failing, or outlasts `fillDeadlineMs`, is reported as `gap-unfilled`, remembered, and repaired on
 * a later input, beside the inputs (its bars are older than the newest: origin 'repair').
 *
 * ```
 * input:   --a--b-----(e)--e'--|        (c, d missing; e' = e updated)
 * fetch:            (cd|)               (fetchRange(c, e - 1))
 * output:  --a--b-----(G c d F e)--e'--|  (G = gap, F = gap-filled)
 * ```
 * @param interval series interval; a gap is an open time more than one interval after the last
 * @param fetchRange REST pages for [from, to]; subscribed lazily, once per gap, cancelled on unsubscribe
 * @param seed newest known bar at subscription
 * @param retryCount, retryDelayMs retries of a failing fill; repairAfterMs wait before retrying a hole
 * Errors from the source pass through; fill errors never do (they become `gap-unfilled` events).
 */
export function spliceGaps(config: SpliceGapsConfig): OperatorFunction<SeriesInput, SpliceEvent> {
  const { interval, key = '?', fetchRange, seed, retryCount = 3, retryDelayMs = 1000, repairAfterMs = 30_000, fillDeadlineMs = 15_000, scheduler = asyncScheduler } = config;
  parseInterval(interval); // throws on a bad interval when the operator is built
  if (typeof fetchRange !== 'function') throw new TypeError('spliceGaps: fetchRange must be a function');
  if (!(retryCount >= 0)) throw new TypeError('spliceGaps: retryCount must be >= 0');
  if (!(fillDeadlineMs > 0)) throw new TypeError('spliceGaps: fillDeadlineMs must be > 0');

  const settings: SpliceSettings = { interval, key, fetchRange, retryCount, retryDelayMs, repairAfterMs, fillDeadlineMs, scheduler };
  return (source) =>
    defer(() => {
      const splicer = new Splicer(settings, seed?.());

      // concatMap's semantics (inputs handled one at a time, in order; those arriving while a fill is
      // in flight wait), without an inner subscription per input: only fills and repairs subscribe.
      return new Observable<SpliceEvent>((subscriber) => {
        const queue: SeriesInput[] = [];
        let inner: Subscription | undefined;
        let running = false;
        let draining = false;
        let finish: (() => void) | undefined;
        // A repair runs beside the inputs: its bars are older than the newest, and it held the live
        // updates for as long as it took (each hole up to the fill deadline, one after another: 92 s
        // in an attacker-style probe).
        let repair: Subscription | undefined;
        let repairing = false;
        /** Names the repair running now (one completing synchronously may start the next). */
        let current: object | undefined;
        // A method, not an arrow bound to a name: tsx (esbuild keepNames) wraps every named arrow in
        // __name(), which turns the function into a dictionary-mode object (~150 B more) per series.
        const loop = {
          drain(): void {
            if (draining) return;
            draining = true;
            try {
              while (!running && queue.length > 0 && !subscriber.closed) {
                if (!repairing) loop.repair();
                const out = splicer.handle(queue.shift()!);
                if (isArray(out)) {
                  for (const e of out) subscriber.next(e);
                  continue;
                }
                running = true;
                const sub = out.subscribe({
                  next(e) {
                    subscriber.next(e);
                  },
                  error(e: unknown) {
                    subscriber.error(e);
                  },
                  complete() {
                    running = false;
                    inner = undefined;
                    loop.drain();
                  },
                });
                if (running) inner = sub;
              }
              if (!running && !repairing && queue.length === 0) finish?.();
            } catch (e) {
              subscriber.error(e);
            } finally {
              draining = false;
            }
          },
          repair(): void {
            const due = splicer.dueRepair();
            if (!due) return;
            const token = {};
            current = token;
            repairing = true;
            const sub = due.subscribe({
              next(e) {
                subscriber.next(e);
              },
              error(e: unknown) {
                subscriber.error(e);
              },
              complete() {
                if (current !== token) return;
                repairing = false;
                repair = undefined;
                // Holes that fell due meanwhile (or failed again at once) go next: no later input may come.
                loop.repair();
                if (!repairing && !draining && !running && queue.length === 0) finish?.();
              },
            });
            if (current === token && repairing) repair = sub;
          },
        };
        subscriber.add(() => {
          inner?.unsubscribe();
          repair?.unsubscribe();
        });
        // Subscribed with `subscriber` itself, so a consumer that unsubscribes stops even a
        // synchronous source at once; the tail completes the output when the last input is handled.
        concat(
          source.pipe(
            tap((input) => {
              // While a fill is in flight, a newer update of the forming bar queued last takes its place:
              // queued one per frame, a fill that hung kept every frame (2 GB in 80 s of a flood), then
              // sent them all, stale, in one blocking pass. A closed one is kept (it is the bar's final).
              // An older forming update (less volume: see admit) is dropped there, not put over a newer one.
              const last = running ? queue[queue.length - 1] : undefined;
              if (last?.type === 'bar' && input.type === 'bar' && last.bar.openTime === input.bar.openTime && !last.bar.closed) {
                if (input.bar.closed || input.bar.volume >= last.bar.volume) queue[queue.length - 1] = input;
              } else queue.push(input);
              loop.drain();
            }),
            ignoreElements(),
          ),
          new Observable<never>((tail) => {
            finish = () => tail.complete();
            loop.drain();
          }),
        ).subscribe(subscriber);
      });
    });
}

interface SpliceSettings {
  interval: string;
  key: string;
  fetchRange: SpliceGapsConfig['fetchRange'];
  retryCount: number;
  retryDelayMs: number;
  repairAfterMs: number;
  fillDeadlineMs: number;
  scheduler: SchedulerLike;
}

/**
 * The state of one subscription of `spliceGaps`: the newest bar emitted, the newest closed open time
 * and the holes left to repair. A class so that its steps are prototype methods, shared by every
 * series, rather than eight closures per series.
 */
class Splicer {
  /** The newest bar emitted. */
  private last: Bar | undefined;
  /** The newest closed open time. */
  private lastClosed: number;
  /**
   * Whether `last` is closed by the stream's own final. A bar judged closed from REST (or seeded
   * from the store) is the exchange's word at the time it was asked; the stream's final for it
   * still wins, so a misjudged forming row can never keep partial values.
   */
  private lastFinalLive = false;
  private readonly holes: Hole[] = [];
  /**
   * The series' last fill or repair failed: REST is failing for it, and a new gap goes straight to a
   * repair instead of holding the live updates up to the deadline (17 s of every minute while REST
   * hung and finals went missing, an attacker-style probe).
   */
  private failing = false;

  constructor(
    private readonly cfg: SpliceSettings,
    seed: Bar | undefined,
  ) {
    this.last = seed;
    // Everything before a forming seed is closed; its own final is still to come.
    this.lastClosed = seed ? (seed.closed ? seed.openTime : seed.openTime - 1) : -Infinity;
  }

  handle(input: SeriesInput): readonly SpliceEvent[] | Observable<SpliceEvent> {
    return input.type === 'bar' ? this.onBar(input.bar) : this.onResync(input.at);
  }

  /** The holes due for a repair, taken out and fetched one after another; undefined when none is due. */
  dueRepair(): Observable<SpliceEvent> | undefined {
    if (this.holes.length === 0) return undefined;
    const now = this.cfg.scheduler.now();
    const due = this.holes.filter((h) => h.dueAt <= now);
    if (due.length === 0) return undefined;
    for (const h of due) this.holes.splice(this.holes.indexOf(h), 1);
    return from_(due).pipe(concatMap((h) => this.fill(h.from, h.to, 'repair', this.last ? this.last.openTime : Infinity, h.streamed, h.repairs)));
  }

  /** Admits a bar if it moves the series forward; updates state. */
  private admit(bar: Bar, live: boolean): boolean {
    const last = this.last;
    if (bar.closed && last?.closed && bar.openTime === last.openTime && !this.lastFinalLive) {
      this.lastFinalLive = live;
      if (sameBar(bar, last)) return false;
      this.last = bar;
      return true;
    }
    if (bar.openTime <= this.lastClosed) return false;
    if (last && bar.openTime < last.openTime) return false;
    if (last && bar.openTime === last.openTime && (sameBar(bar, last) || last.closed)) return false;
    // A forming update older than the one kept (volume only grows while a bar forms; kline streams have
    // no sequence number and no ordering guarantee): the newer one stays, as the cluster's write keeps it.
    if (last && bar.openTime === last.openTime && !bar.closed && bar.volume < last.volume) return false;
    this.last = bar;
    this.lastFinalLive = live && bar.closed;
    if (bar.closed) this.lastClosed = bar.openTime;
    return true;
  }

  /** A repaired bar is older than `last`; it is admitted only if it is closed and newer than nothing we already closed in order. */
  private admitRepair(bar: Bar): boolean {
    return bar.closed && (!this.last || bar.openTime < this.last.openTime);
  }

  /**
   * Fetches [from, to], keeps bars in order that the state admits; retried, then reported. The whole
   * fill has a deadline: the live updates of the series wait behind it, and a dripping exchange or a
   * long REST pause (a 429's Retry-After) held them for minutes (an attacker-style probe: 178 s).
   */
  private fill(from: number, to: number | undefined, origin: 'fill' | 'repair', upTo: number, streamed: boolean, repairs = 0): Observable<SpliceEvent> {
    const { fetchRange, retryCount, retryDelayMs, repairAfterMs, fillDeadlineMs, scheduler } = this.cfg;
    // Missing buckets are asked for with the bar after them (the one that revealed them, which the
    // exchange has): an answer holding it but none of them is the exchange's own hole (an outage, a
    // halt), not a failure. Taken for one, it was fetched again about 36 times over 23 min per series.
    const askTo = to !== undefined && !streamed ? to + 1 : to;
    const fetched$ = defer(() => from_(fetchRange(from, askTo))).pipe(
      reduce((acc, page) => (acc.push(...page), acc), [] as Bar[]),
      // A range that has ended holds the unclosed bar it is for (it was streamed), or, for buckets
      // missing, at least one of them or the bar after them: an empty or short answer is a failure,
      // not a fill (an exchange answering `[]` left a hole and a bar forming for good, with nothing
      // logged). Not the first missing one: the rows after a hole of the exchange's own were refused
      // for good (a review).
      tap((bars) => {
        if (to === undefined) return;
        if (streamed ? !bars.some((b) => b.openTime === from) : !bars.some((b) => b.openTime >= from && b.openTime <= to + 1)) {
          throw new Error(`the exchange's answer lacks ${streamed ? 'the bar at' : 'every bar from'} ${new Date(from).toISOString()}`);
        }
      }),
      retry({ count: retryCount, delay: (_e, n) => timer(retryDelayMs * 2 ** (n - 1), scheduler), resetOnSuccess: true }),
      timeout({ first: fillDeadlineMs, scheduler, with: () => throwError(() => new Error(`no answer within ${fillDeadlineMs} ms`)) }),
    );
    return fetched$.pipe(
      concatMap((bars) => {
        // REST answers again: the holes waiting out their backoff are due at once.
        if (this.failing) {
          this.failing = false;
          const now = scheduler.now();
          for (const h of this.holes) h.dueAt = Math.min(h.dueAt, now);
        }
        const out: SpliceEvent[] = [];
        for (const fetched of bars) {
          if (fetched.openTime >= upTo) break;
          // Only the range asked for (an exchange repeating a page made a repair take 676,001 bars).
          if (fetched.openTime < from || (to !== undefined && fetched.openTime > to)) continue;
          // A bucket before the live bar that revealed the gap has ended: whatever REST's clock
          // said, its values are final.
          const bar = upTo !== Infinity && !fetched.closed ? { ...fetched, closed: true } : fetched;
          if (origin === 'repair' ? this.admitRepair(bar) : this.admit(bar, false)) out.push({ type: 'bar', bar, origin });
        }
        out.push({ type: 'gap-filled', from, to: to ?? scheduler.now(), bars: out.length });
        return from_(out);
      }),
      catchError((cause: unknown) => {
        // An open end stays open: the host's clock must not decide where the exchange's data ends.
        const failed = origin === 'repair' ? repairs + 1 : 0;
        this.failing = true;
        // Each hole on its own clock: a new one failing no longer put off the repair of an older one.
        return of(this.unfilled(from, to, streamed, 1 + retryCount, failed, repairAfterMs * 2 ** Math.min(failed, REPAIR_BACKOFF_DOUBLINGS), cause));
      }),
    );
  }

  /** Remembers a hole for a repair `dueInMs` from now (unless given up) and says so. */
  private unfilled(from: number, to: number | undefined, streamed: boolean, attempt: number, repairs: number, dueInMs: number, cause: unknown): SpliceEvent {
    const { key, scheduler } = this.cfg;
    if (repairs < MAX_REPAIRS) this.holes.push({ from, to, attempt, repairs, dueAt: scheduler.now() + dueInMs, streamed });
    const range = `${new Date(from).toISOString()} .. ${to === undefined ? 'now' : new Date(to).toISOString()}`;
    const error = new GapFillError(repairs < MAX_REPAIRS ? `gap ${key} [${range}] not filled after ${attempt} attempts` : `gap ${key} [${range}] given up after ${repairs} repairs`, {
      cause,
      info: { key, from, to: to ?? scheduler.now(), attempt },
    });
    return { type: 'gap-unfilled', error };
  }

  /** A gap while REST is failing for the series: left to a repair at once, the live updates not held. */
  private toRepair(gap: SpliceEvent & { type: 'gap' }, to: number | undefined, streamed: boolean, bar?: Bar): readonly SpliceEvent[] {
    const out: SpliceEvent[] = [gap, this.unfilled(gap.from, to, streamed, 0, 0, 0, new Error("left to a repair: the series' last REST answer failed"))];
    if (bar && this.admit(bar, true)) out.push({ type: 'bar', bar, origin: 'live' });
    return out;
  }

  private onBar(bar: Bar): readonly SpliceEvent[] | Observable<SpliceEvent> {
    const prev = this.last;
    if (prev && bar.openTime > prev.openTime) {
      const expected = nextOpen(prev.openTime, this.cfg.interval);
      // Missing buckets, or the previous bar never got its final update: both come from REST.
      const from = bar.openTime > expected ? (prev.closed ? expected : prev.openTime) : prev.closed ? undefined : prev.openTime;
      if (from !== undefined) {
        const reason = bar.openTime > expected ? 'skip' : 'unclosed';
        const streamed = from === prev.openTime;
        if (this.failing) return this.toRepair({ type: 'gap', from, to: bar.openTime - 1, reason }, bar.openTime - 1, streamed, bar);
        return concat(
          of<SpliceEvent>({ type: 'gap', from, to: bar.openTime - 1, reason }),
          this.fill(from, bar.openTime - 1, 'fill', bar.openTime, streamed),
          defer(() => (this.admit(bar, true) ? of<SpliceEvent>({ type: 'bar', bar, origin: 'live' }) : EMPTY)),
        );
      }
    }
    // The common case, a contiguous update: events go out at once, with no inner subscription.
    return this.admit(bar, true) ? [{ type: 'bar', bar, origin: 'live' }] : NONE;
  }

  private onResync(at: number | undefined): readonly SpliceEvent[] | Observable<SpliceEvent> {
    const last = this.last;
    if (!last) return NONE;
    // Still forming when the connection came back: no bucket closed while it was down, and the stream
    // carries this one's next update and final (a bar update holds the whole bar). A shard's reconnect
    // otherwise fetched every series it carries (9,000 requests for the whole exchange); a second drop
    // while a resync waited for budget fetched it all again. Were `at` wrong, the next live bar of a
    // newer bucket still finds the unclosed one and fills it (onBar).
    if (at !== undefined && !last.closed && nextOpen(last.openTime, this.cfg.interval) > at + RESYNC_MARGIN_MS) return NONE;
    // The bar forming when the connection dropped may have closed offline: its final comes from REST.
    // So does one that only REST called closed: the stream's final for it may have been lost.
    const from = last.closed && this.lastFinalLive ? nextOpen(last.openTime, this.cfg.interval) : last.openTime;
    if (this.failing) return this.toRepair({ type: 'gap', from, to: this.cfg.scheduler.now(), reason: 'resync' }, undefined, true);
    return concat(of<SpliceEvent>({ type: 'gap', from, to: this.cfg.scheduler.now(), reason: 'resync' }), this.fill(from, undefined, 'fill', Infinity, true));
  }
}

const NONE: readonly SpliceEvent[] = [];
const isArray = Array.isArray as (x: unknown) => x is readonly SpliceEvent[];

// `from` is also a local name for a range start inside the operator.
const from_ = from;
