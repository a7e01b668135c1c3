import type { Bar } from '../domain/bar.ts';
import type { SeriesId } from '../domain/series-id.ts';
import { encodeBar } from './bar-codec.ts';
import { BUSY_AFTER, BusyGap } from './busy-gap.ts';
import { seriesKeys } from './cluster-keys.ts';
import type { FencedWriterConfig } from './fenced-writer-config.ts';
import type { FreshEpochs } from './fresh-epochs.ts';
import type { RunIdTracker } from './run-id-tracker.ts';
import type { WithWrite } from './write-commands.ts';
import type { BarWriteResult, WindowResult } from './write-results.ts';

/** Most updates in one script call (a takeover's heal writes thousands in one turn: Redis stays responsive between calls). */
export const MAX_BATCH = 256;

/**
 * Most bars of a window seeded in one call (one ZADD of them, ~1 µs a bar in Redis); a longer one
 * (BUFFER_SIZE goes to a million) is written as updates, in calls of MAX_BATCH.
 */
export const MAX_SEED_BARS = 10_000;

/** Calls unanswered at most; updates made meanwhile wait for an answer (see `flush`). */
const MAX_IN_FLIGHT = 1;

/**
 * The same for a burst's first calls after a pause (BusyGap's `bursting`): an exchange's tick, every
 * stream at once, is read in a few chunks, one call each; waiting for the first's answer held the
 * rest of the burst back by a round trip to a Redis woken from idle (at Binance's pace a burst went in
 * 1.7 calls). Calls on one connection reach Redis in order, so offsets still follow the updates.
 */
const BURST_IN_FLIGHT = BUSY_AFTER;

/**
 * The same while full calls wait (a seed of many windows): Redis always has the next call, and
 * another command on the connection waits behind at most these (a few ms), not the whole backlog.
 */
const BULK_IN_FLIGHT = 4;

/** Calls that may be unanswered while `waiting` updates wait to be sent (`burst`: a burst's first calls). */
const inFlightLimit = (waiting: number, burst: boolean) => (waiting >= MAX_BATCH ? BULK_IN_FLIGHT : burst ? BURST_IN_FLIGHT : MAX_IN_FLIGHT);

/** One update waiting for the end of the turn. */
interface QueuedBar {
  readonly window?: undefined;
  readonly token: string;
  readonly id: SeriesId;
  readonly bar: Bar;
  /** Whether it may begin a log Redis has none of (see `write`). */
  readonly begins: boolean;
  resolve(r: BarWriteResult): void;
  reject(e: unknown): void;
}

/** A whole window waiting, a call of its own (see `writeWindow`). */
interface QueuedWindow {
  readonly window: readonly Bar[];
  readonly token: string;
  readonly id: SeriesId;
  resolve(r: WindowResult): void;
  reject(e: unknown): void;
}

type Queued = QueuedBar | QueuedWindow;

/** FencedWriter's bar updates and windows: queued in a turn, sent at its end in batches, in order (see FencedWriter). */
export class BarWriteQueue {
  /** Batches waiting for the run id: until they are sent, later ones wait behind them (order). */
  private waiting = 0;
  /**
   * Updates not sent yet, sent by `flush` once the turn's I/O callbacks have run (setImmediate: every
   * chunk of upstream frames read in this turn, not only the first), or once MAX_BATCH are queued;
   * while a call is unanswered, when it is answered.
   */
  private queued: Queued[] = [];
  /** Where the updates not sent yet start in `queued` (those before it went in calls). */
  private head = 0;
  /** Calls sent (or waiting for the run id) and not answered yet. */
  private inFlight = 0;
  /** When calls go once the flow is sustained (see BUSY_GAP_MS). */
  private readonly gap: BusyGap;
  /**
   * Set while a window's call is unanswered: nothing queued after it goes meanwhile, so when the log
   * turns out to exist and its bars are written as updates instead, they still come before the
   * series' later updates (a chart ignores a bar older than its newest).
   */
  private barrier = false;

  constructor(
    private readonly redis: WithWrite,
    private readonly cfg: FencedWriterConfig,
    private readonly runIds: RunIdTracker,
    private readonly epochs: FreshEpochs,
  ) {
    this.gap = new BusyGap(this.flush);
  }

  /**
   * Writes one update under the lease `token`, with the other updates of this turn (one script call
   * at its end). Rejects when Redis cannot be reached (nothing of the batch was written then, or the
   * retry is idempotent: the version check drops what got through). `begins` false (a live update):
   * a log Redis has neither position nor bars of is not begun by it (`lost`: its window is the caller's
   * to write).
   */
  write(token: string, id: SeriesId, bar: Bar, { begins = true } = {}): Promise<BarWriteResult> {
    return new Promise((resolve, reject) => {
      if (this.queued.length === this.head) setImmediate(this.flush);
      this.queued.push({ token, id, bar, begins, resolve, reject });
      if (this.queued.length - this.head >= MAX_BATCH) this.flush();
    });
  }

  /**
   * Writes a series' whole window (bars in ascending time, one per time) under the lease `token`, in
   * order with the other writes: into a log Redis does not have yet in one step (WINDOW_SEED_LUA);
   * into one it has (or a window of more than MAX_SEED_BARS), as updates, each checked against the
   * stored version of its bar. Rejects when Redis cannot be reached.
   */
  writeWindow(token: string, id: SeriesId, bars: readonly Bar[]): Promise<WindowResult> {
    if (!bars.length) return Promise.resolve({ kind: 'updates', written: 0, dropped: 0 });
    if (bars.length > MAX_SEED_BARS) return this.windowAsUpdates(bars.map((bar) => this.write(token, id, bar)));
    return new Promise((resolve, reject) => {
      if (this.queued.length === this.head) setImmediate(this.flush);
      this.queued.push({ window: bars, token, id, resolve, reject });
    });
  }

  /** A window's results as its bars' updates settle (rejects with the first failure, once all settled). */
  private async windowAsUpdates(writes: ReadonlyArray<Promise<BarWriteResult>>): Promise<WindowResult> {
    const settled = await Promise.allSettled(writes);
    const failed = settled.find((r) => r.status === 'rejected');
    if (failed) throw failed.reason;
    const kinds = settled.map((r) => (r as PromiseFulfilledResult<BarWriteResult>).value.kind);
    if (kinds.includes('fenced')) return { kind: 'fenced' };
    const written = kinds.filter((k) => k === 'written').length;
    return { kind: 'updates', written, dropped: kinds.length - written };
  }

  /**
   * Sends what was queued: one call per run of updates under the same token (at most MAX_BATCH), in
   * order. While MAX_IN_FLIGHT calls (BULK_IN_FLIGHT full ones, BURST_IN_FLIGHT of a burst's first) are unanswered it sends nothing: what
   * comes meanwhile goes in one call when an answer comes. A busy leader so makes fewer, larger calls
   * (Redis's and its own cost is mostly per call when turns carry an update or two), and once the flow
   * is sustained a call also waits until BUSY_GAP_MS after the previous one (longer after a large
   * call: see busyGapAfter); an idle one sends each turn at once.
   */
  private readonly flush = (): void => {
    const queued = this.queued;
    const waiting = queued.length - this.head;
    const burst = this.gap.bursting;
    if (!waiting || this.barrier || this.inFlight >= inFlightLimit(waiting, burst)) return;
    if (!this.gap.admits(waiting >= MAX_BATCH)) return;
    // Calls up to the limit; the rest waits for an answer. A seed of many windows at once (an edge's
    // burst of on-demand series) so queues in this writer, not as thousands of calls on the
    // connection ahead of every other command, and a turn encodes a few calls, not all of them.
    const from = this.head;
    let i = from;
    while (i < queued.length && !this.barrier && this.inFlight < inFlightLimit(queued.length - i, burst)) {
      const first = queued[i]!;
      if (first.window) {
        this.barrier = true;
        this.dispatch((runId) => this.sendWindow(runId, first), [first]);
        i++;
        continue;
      }
      let j = i + 1;
      while (j < queued.length && j - i < MAX_BATCH && !queued[j]!.window && queued[j]!.token === first.token) j++;
      const batch = queued.slice(i, j) as QueuedBar[];
      this.dispatch((runId) => this.send(runId, batch), batch);
      i = j;
    }
    if (i === queued.length) {
      this.queued = [];
      this.head = 0;
    } else if (i > MAX_BATCH * 64 && i * 2 > queued.length) {
      // Drops what went, now and then (not at every call: a long queue would be copied each time).
      this.queued = queued.slice(i);
      this.head = 0;
    } else this.head = i;
    // The gap counts from when the call went, after its batch was encoded (a preempted encoding
    // must not shorten it); it grows with what the calls carried (see busyGapAfter).
    this.gap.sent(i - from);
  };

  /** One call answered (or failed): what queued up meanwhile goes now (or after the gap, when busy). */
  private readonly answered = (): void => {
    this.inFlight--;
    this.flush();
  };

  /** Sends one call once the run id is known (`send`), in the order calls were made; on failure rejects what it carried. */
  private dispatch(send: (runId: string) => void, batch: readonly Queued[]): void {
    this.inFlight++;
    // A call that could not be made: what it carried fails (a window's bars go as updates), the writer goes on.
    const failed = (e: unknown) => {
      for (const q of batch) {
        if (q.window) this.windowFailed(q);
        else q.reject(e);
      }
      this.answered();
    };
    const sendSafely = (runId: string) => {
      try {
        send(runId);
      } catch (e) {
        // After `flush` is done with its queue: failed here, inside it, a window's bars were put back
        // where its loop had not looked, and the loop sent the series' later updates ahead of them.
        queueMicrotask(() => failed(e));
      }
    };
    const known = this.runIds.known;
    if (known !== undefined && this.waiting === 0) return sendSafely(known);
    this.waiting++;
    this.runIds.identity().then(
      (runId) => {
        this.waiting--;
        sendSafely(runId);
      },
      (e: unknown) => {
        this.waiting--;
        failed(e);
      },
    );
  }

  /**
   * A window that was not seeded (its log exists; or its call failed: Redis may have run it, or not)
   * goes as updates, queued ahead of everything that waited behind it (the barrier kept it back), so
   * none of the series' later updates reaches Redis before them; each is checked against the stored
   * version of its bar (a seed that did run drops them all). `bars`: those that differ from what the
   * log stores (the others count as dropped: written, each would be). Releases the barrier.
   */
  private windowFailed(q: QueuedWindow, bars: readonly Bar[] = q.window): void {
    const writes: Array<Promise<BarWriteResult>> = [];
    const items = bars.map((bar): QueuedBar => {
      let item!: QueuedBar;
      writes.push(new Promise<BarWriteResult>((resolve, reject) => (item = { token: q.token, id: q.id, bar, begins: true, resolve, reject })));
      return item;
    });
    this.queued.splice(this.head, 0, ...items);
    const same = q.window.length - bars.length;
    this.windowAsUpdates(writes).then((r) => q.resolve(r.kind === 'updates' ? { ...r, dropped: r.dropped + same } : r), q.reject);
    this.barrier = false;
  }

  /** A window's call (see WINDOW_SEED_LUA); a log Redis already has gets the bars it lacks as updates, a failed call all of them (windowFailed). */
  private sendWindow(runId: string, q: QueuedWindow): void {
    let body = '';
    for (const bar of q.window) body += `${bar.openTime} ${encodeBar(bar)}\n`;
    const k = seriesKeys(q.id, this.cfg.keyPrefix);
    this.redis.clusterSeedWindow(this.cfg.leaseKey, k.candles, k.pos, k.hist, q.token, runId, this.epochs.next(), this.cfg.bufferSize, this.cfg.historyUpdates, k.channel, body).then(
      (r) => {
        if (r[0] === -1) q.resolve({ kind: 'fenced' });
        else if (r[0] === 1) q.resolve({ kind: 'seeded', epoch: String(r[2]) });
        else this.windowFailed(q, r.slice(1).map((i) => q.window[Number(i) - 1]!));
        this.barrier = false;
        this.answered();
      },
      () => {
        // Not a rejection: its bars then waited for a retry while the series' later updates went first.
        this.windowFailed(q);
        this.answered();
      },
    );
  }

  private send(runId: string, batch: QueuedBar[]): void {
    const epoch = this.epochs.next();
    // One string for the batch (see WRITE_BATCH_LUA); series keys and members hold no space or newline.
    // `more`: a later update of the same series follows (Redis then holds its writes for that one).
    const last = new Map<string, number>();
    for (let i = 0; i < batch.length; i++) last.set(batch[i]!.id.key, i);
    let body = '';
    for (let i = 0; i < batch.length; i++) {
      const { id, bar, begins } = batch[i]!;
      body += `${id.key} ${bar.openTime} ${bar.closed ? 1 : 0} ${begins ? 1 : 0} ${last.get(id.key) === i ? 0 : 1} ${bar.volume} ${encodeBar(bar)}\n`;
    }
    this.redis.clusterWriteBatch(1, this.cfg.leaseKey, batch[0]!.token, runId, epoch, this.cfg.bufferSize, this.cfg.historyUpdates, this.cfg.keyPrefix ?? '', body).then(
      (r) => {
        if (r[0] === -1) for (const q of batch) q.resolve({ kind: 'fenced' });
        else
          batch.forEach((q, i) => {
            const status = r[3 * i];
            if (status === -2) q.reject(new Error(`cluster write of ${q.id.key} failed in Redis: ${String(r[3 * i + 2])}`));
            else if (status === 3) q.resolve({ kind: 'lost' });
            else q.resolve({ kind: status === 1 ? 'written' : 'dropped', offset: Number(r[3 * i + 1]), epoch: String(r[3 * i + 2]) });
          });
        this.answered();
      },
      (e: unknown) => {
        for (const q of batch) q.reject(e);
        this.answered();
      },
    );
  }
}
