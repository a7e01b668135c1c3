// One derived series instance as the registry runs it while someone holds it: its warm-up (older
// bars, then the window, in slices), the live feed, restarts after a repair or a failure, and its
// release once idle. The registry keeps the instances and what they share (budgets, feeds, caps).
import type { Subscription } from 'rxjs';
import type { Bar } from '../domain/bar.ts';
import type { SeriesId } from '../domain/series-id.ts';
import { anchoredFeedStart } from './anchored-runs.ts';
import type { SeriesPoint } from './define-series.ts';
import { changedSince, keptSame } from './point-changes.ts';
import { PointWindow } from './point-window.ts';
import { SLICE_TURN_MS, type SliceOwner, SLOW_BAR_MS } from './run-slices.ts';
import type { FeedTarget } from './series-feeds.ts';
import type { SeriesInstance, SeriesState } from './series-instance.ts';
import type { InstanceHost } from './instance-host.ts';
import type { SeriesRequest } from './series-requests.ts';
import { blockMsOf, openRun, pushAll, type Run, type RunInput } from './series-run.ts';
import { seriesPointSerializer, seriesStatusMessage } from './series-wire.ts';

/** Runs again of an instance that started without its older bars (see `rewarmAfterMs`). */
const MAX_REWARMS = 3;

/** A running instance: warm-up, live feed, restarts, its holders and idle release. */
export class LiveInstance implements SeriesInstance {
  readonly label: string;
  readonly topic: string;
  readonly window: PointWindow;
  state: SeriesState = 'warming';
  error?: string;
  refs = 0;
  idleSince = 0;
  readonly ready: Promise<SeriesInstance>;
  private resolveReady!: (i: SeriesInstance) => void;
  private readonly blockMs: number;
  private readonly message: (p: SeriesPoint) => string;
  private run?: { input: RunInput; subscription: Subscription; target: FeedTarget };
  private generation = 0;
  private failures = 0;
  private startedAt = 0;
  private restartTimer?: NodeJS.Timeout;
  private rewarmTimer?: NodeJS.Timeout;
  private rewarms = 0;
  private idleTimer?: NodeJS.Timeout;
  private disposed = false;
  correctedFrom?: number;
  /** A repair came while it was not live (from this time on): it runs again once it is. */
  private pendingFrom?: number;
  /**
   * Its points when a repair or a failure stopped its run: once live again, every point that differs
   * from these (a corrected value, one in the repaired hole, one of a bar that closed meanwhile) goes
   * out, so an open chart is corrected without a reload.
   */
  private sentBefore?: Map<number, SeriesPoint>;

  constructor(
    private readonly registry: InstanceHost,
    readonly req: SeriesRequest,
    readonly id: SeriesId,
    readonly key: string,
    /** The client that started it: its first warm-up counts against that address (restarts: the shared budget). */
    private readonly startedBy?: string,
  ) {
    this.label = req.label;
    this.topic = `series/${req.label}/${id.symbol}/${id.interval}`;
    this.window = new PointWindow(registry.registryDeps.bufferSize);
    this.blockMs = blockMsOf(req, id);
    const position = registry.registryDeps.position;
    this.message = seriesPointSerializer(this.label, id.symbol, id.interval, position && (() => position(id)));
    this.ready = new Promise((r) => (this.resolveReady = r));
  }

  hold(): void {
    this.refs++;
    if (this.idleTimer) clearTimeout(this.idleTimer);
    this.idleTimer = undefined;
  }

  unhold(): void {
    this.refs = Math.max(0, this.refs - 1);
    if (this.refs > 0 || this.disposed) return;
    this.idleSince = Date.now();
    this.idleTimer = setTimeout(() => {
      if (this.refs === 0) this.dispose();
    }, this.registry.registryDeps.idleMs ?? 60_000);
    this.idleTimer.unref?.();
  }

  /** Starts (or restarts) the run: warm-up in slices, then live. Failures go to `fail`. */
  start(): void {
    const generation = ++this.generation;
    this.startedAt = Date.now();
    const alive = () => !this.disposed && generation === this.generation && !this.registry.isStopped;
    const failed = (e: unknown) => {
      if (alive()) this.fail(e);
    };
    const history = this.registry.registryDeps.history(this.id);
    const needFrom = history[0]?.openTime;
    const start = needFrom === undefined ? undefined : anchoredFeedStart(needFrom, this.blockMs);
    // Little history and nothing older to fetch: warmed up at once, live when `acquire` returns, if
    // the operator takes less than a turn's time over it; the rest in slices, as a warm-up.
    if (needFrom === undefined || (!this.registry.older.needsOlder(this.id, needFrom, start!) && history.length <= this.registry.slices.sliceBars)) {
      let run: Run | undefined;
      let reached: number;
      try {
        run = this.openRun(needFrom === undefined ? undefined : history[0]!.openTime <= start! ? start : needFrom);
        const until = this.registry.now() + SLICE_TURN_MS;
        reached = history.length ? this.registry.slices.pushTimed(run, history, 0, history.length, () => this.registry.now() >= until, this.owner) : 0;
        if (reached === history.length) return this.goLive(run, history);
      } catch (e) {
        run?.subscription.unsubscribe();
        return failed(e);
      }
      void this.feedThenLive(run, history, history, reached, alive, false).catch(failed);
      return;
    }
    void this.warm(history, needFrom, start!, alive).catch(failed);
  }

  /** Whose bars its slices feed. */
  private get owner(): SliceOwner {
    return { series: this.req.def.name, label: this.label, key: this.id.key };
  }

  private openRun(inputFrom: number | undefined): Run {
    return openRun(this.req, this.blockMs, inputFrom, this.id.interval, (p) => this.point(p));
  }

  private async warm(history: Bar[], needFrom: number, start: number, alive: () => boolean): Promise<void> {
    // Generation 1 is its first run; every stop (a repair, a failure) moves it on.
    const restart = this.generation > 1;
    const older = await this.registry.older.olderForWarmUp(this.id, needFrom, start, alive, restart, restart ? undefined : this.startedBy);
    if (!alive()) return;
    await this.feedThenLive(this.openRun(older.inputFrom), [...older.bars, ...history], history, 0, alive, older.partial === true);
  }

  /** Feeds `bars[from…]` in slices, then goes live on `history` (the window's part of them). */
  private async feedThenLive(run: Run, bars: Bar[], history: Bar[], from: number, alive: () => boolean, partial: boolean): Promise<void> {
    try {
      await this.registry.slices.pushSlices(run, bars, this.owner, alive, from);
      if (alive()) {
        this.goLive(run, history);
        if (partial) this.rewarmLater();
      }
    } finally {
      if (!alive() || this.run?.input !== run.input) run.subscription.unsubscribe();
    }
  }

  /** Catches up with bars written since `history` was read, and joins the live feed in the same turn. */
  private goLive(run: Run, history: Bar[]): void {
    const deps = this.registry.registryDeps;
    const lastFed = history[history.length - 1]?.openTime ?? Number.NEGATIVE_INFINITY;
    pushAll(run, deps.history(this.id).filter((b) => b.openTime >= lastFed));
    // Same turn as the catch-up: no bar can fall between the window and the feed. A live run's
    // error surfaces in the operator's error channel while a bar is fed.
    const registry = this.registry;
    const owner = this.owner;
    const target: FeedTarget = {
      topic: this.topic,
      next: (bar) => {
        // A feed calls the targets it had when the bar came: one stopped meanwhile (by an earlier one's time) is not fed, nor timed again.
        if (this.run?.target !== target) return;
        const t0 = registry.now();
        run.input.next(bar);
        const ms = registry.now() - t0;
        if (ms >= SLOW_BAR_MS) registry.slices.slowBar(owner, ms);
        const f = run.failure();
        if (f !== undefined && this.run?.target === target) this.fail(f);
        registry.registryDeps.onLiveTime?.(owner.series, ms);
        // Not after its own failure: its run stopped, its time with it.
        if (this.run?.target === target) registry.timedLive(this.key, ms);
      },
    };
    run.subscription.add(() => this.registry.feeds.detach(this.id, target));
    this.run = { input: run.input, subscription: run.subscription, target };
    this.registry.feeds.attach(this.id, target);
    const recovered = this.state === 'failed';
    this.state = 'live';
    this.error = undefined;
    if (recovered) deps.publish(this.topic, () => seriesStatusMessage(this.label, this.id, 'live'));
    if (this.sentBefore) {
      for (const p of changedSince(this.sentBefore, this.window)) deps.publish(this.topic, () => this.message(p));
      this.sentBefore = undefined;
    }
    this.resolveReady(this);
    deps.onState?.(this, this.id);
    this.correctedFrom = undefined;
    const pending = this.pendingFrom;
    this.pendingFrom = undefined;
    if (pending !== undefined) this.repaired(pending);
  }

  private point(p: SeriesPoint): void {
    const live = this.state === 'live' && this.run !== undefined;
    const same = keptSame(this.window, p);
    // An older point (a correction) goes out too: clients upsert by time.
    const kept = this.window.upsert(p) !== 'older' || this.window.at(p.time) === p;
    if (kept && live && !same) this.registry.registryDeps.publish(this.topic, () => this.message(p));
    if (live && !same) this.registry.registryDeps.onPoint?.(this, this.id, p);
    if (this.failures > 0 && Date.now() - this.startedAt > (this.registry.registryDeps.healthyAfterMs ?? 600_000)) this.failures = 0;
  }

  /**
   * Its series repaired a hole from `from` on: computes again from the window, as at start, so its
   * values include the repaired bars. Once it is live again the points that changed go out (see
   * `sentBefore`), the live ones follow. One not live yet (warming, failed) runs again once it is.
   */
  repaired(from: number): void {
    if (this.disposed || this.registry.isStopped) return;
    if (this.state !== 'live' || !this.run) {
      this.pendingFrom = Math.min(this.pendingFrom ?? Number.POSITIVE_INFINITY, from);
      return;
    }
    this.correctedFrom = Math.min(this.correctedFrom ?? Number.POSITIVE_INFINITY, from);
    this.sentBefore ??= this.pointsHeld();
    this.stopRun();
    this.start();
  }

  /**
   * Its live bars took more of the engine than it may (see LiveTimeShare): failed as if it threw
   * `message`, restarted as after a throw but never given up: load comes and goes (a volatile
   * market's updates), and a popular series given up stayed failed for every client while held.
   */
  overShare(message: string): void {
    if (this.state === 'live' && this.run && !this.disposed) this.fail(new Error(message), false);
  }

  private fail(err: unknown, mayGiveUp = true): void {
    // What clients hold now: once it runs again, the points of bars that came meanwhile go out.
    this.sentBefore ??= this.pointsHeld();
    this.stopRun();
    this.failures++;
    const deps = this.registry.registryDeps;
    const gaveUp = mayGiveUp && this.failures >= (deps.maxFailures ?? 5);
    this.registry.logFailure(this, err, this.failures, gaveUp);
    // Failed until a restart runs again: clients are told (once per error), GET answers 503.
    const message = (err instanceof Error ? err.message : String(err)).slice(0, 300);
    // Said when it is final: the same words as a failure that is retried left a client (and its
    // trader) waiting for a restart that never comes (a quant review).
    const error = gaveUp ? `${message} (given up after ${this.failures} failures)` : message;
    if (this.state !== 'failed' || this.error !== error) {
      this.state = 'failed';
      this.error = error;
      deps.publish(this.topic, () => seriesStatusMessage(this.label, this.id, 'failed', error));
      deps.onState?.(this, this.id);
    }
    this.resolveReady(this);
    if (gaveUp) {
      // It will not run again: nothing to compare its points with.
      this.sentBefore = undefined;
      return;
    }
    const base = deps.restartDelayMs ?? 1000;
    const delay = Math.min(deps.maxRestartDelayMs ?? 60_000, base * 2 ** (this.failures - 1));
    this.restartTimer = setTimeout(() => {
      this.restartTimer = undefined;
      if (!this.disposed && !this.registry.isStopped) this.start();
    }, delay);
    this.restartTimer.unref?.();
  }

  private pointsHeld(): Map<number, SeriesPoint> {
    return new Map(this.window.last(this.window.size).map((p) => [p.time, p]));
  }

  private stopRun(): void {
    this.generation++;
    const run = this.run;
    this.run = undefined;
    run?.subscription.unsubscribe();
    // Its time goes with its run (a failure, a repair, a release): counted, it had another stopped for it.
    if (run) this.registry.untimed(this.key);
  }

  /** Started without its older bars: runs again later, as after a repair from its first point (a few times at most). */
  private rewarmLater(): void {
    if (this.rewarms >= MAX_REWARMS || this.rewarmTimer) return;
    const delay = (this.registry.registryDeps.rewarmAfterMs ?? 60_000) * 2 ** this.rewarms++;
    this.rewarmTimer = setTimeout(() => {
      this.rewarmTimer = undefined;
      this.repaired(Number.NEGATIVE_INFINITY);
    }, delay);
    this.rewarmTimer.unref?.();
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    this.stopRun();
    if (this.restartTimer) clearTimeout(this.restartTimer);
    if (this.rewarmTimer) clearTimeout(this.rewarmTimer);
    if (this.idleTimer) clearTimeout(this.idleTimer);
    this.registry.forget(this);
    this.resolveReady(this);
  }
}
