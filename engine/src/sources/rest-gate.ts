import { HistoryRefusedError } from '../domain/errors.ts';

/**
 * Shared admission control for every REST call to one exchange host: a per-minute weight budget
 * (Binance counts weight per UTC clock minute), a global pause after 429/418 (`Retry-After`), and a
 * concurrency limit. Three priorities:
 * - `live`: the engine's own work on what it keeps (gap fills, resyncs, configured series'
 *   bootstraps), bounded by the series it keeps; always first, may use the whole budget.
 * - `start`: the bootstrap of an on-demand series a client asked for. It goes after waiting live calls,
 *   uses at most `startShare` of the budget (and waits, holding no slot, for the next minute beyond it)
 *   and leaves one slot to live work: a flood of cold series from many addresses, each within its own
 *   ration, once took the whole budget, and the gap fill of a series already kept waited behind it.
 * - `client`: history a client asked for, older than the store. It gets what is left, never waits
 *   for budget (it is refused with a retry time), may use at most `clientShare` of the budget and half
 *   the slots, so it can never starve live work.
 */
export interface RestGateOptions {
  weightBudget: number;
  concurrency: number;
  now?: () => number;
  /** Part of the per-minute budget client history may use (default 0.5). */
  clientShare?: number;
  /** Part of the per-minute budget on-demand series' bootstraps may use (default 0.5). */
  startShare?: number;
}

export type RestPriority = 'live' | 'start' | 'client';

export class RestGate {
  private used = 0;
  private minute = -1;
  private pausedUntil = 0;
  private active = 0;
  private clientActive = 0;
  /** Start and client calls running: together they leave a slot to live work. */
  private otherActive = 0;
  private readonly waiters: Array<() => void> = [];
  private readonly startWaiters: Array<() => void> = [];
  private readonly clientWaiters: Array<() => void> = [];
  private readonly now: () => number;

  constructor(private readonly opts: RestGateOptions) {
    this.now = opts.now ?? Date.now;
  }

  /** Weight used in the current minute, as last reported by the exchange or reserved by us. */
  get weightUsed(): number {
    this.roll();
    return this.used;
  }

  get pausedForMs(): number {
    return Math.max(0, this.pausedUntil - this.now());
  }

  /** Client calls waiting for a slot. */
  get clientQueued(): number {
    return this.clientWaiters.length;
  }

  /** Start calls waiting for a slot or for their share of the budget. */
  get startQueued(): number {
    return this.startWaiters.length + this.startsForBudget;
  }

  /** Calls waiting, by lane (a live call waiting for budget holds its slot and is not counted). */
  waiting(): Record<RestPriority, number> {
    return { live: this.waiters.length, start: this.startQueued, client: this.clientWaiters.length };
  }

  private startsForBudget = 0;

  private get clientSlots(): number {
    return Math.max(1, Math.floor(this.opts.concurrency / 2));
  }

  /** Slots start and client calls may hold together: all but one (a live call waits for one call at most). */
  private get otherSlots(): number {
    return Math.max(1, this.opts.concurrency - 1);
  }

  private get startCap(): number {
    return Math.floor(this.opts.weightBudget * (this.opts.startShare ?? 0.5));
  }

  /**
   * Waits for a slot (live, then start, then client) and budget, runs `fn`, releases. A client call
   * that would pass its share of the budget, or arrives during a pause, is refused with
   * HistoryRefusedError; a start call waits for its share.
   */
  async run<T>(weight: number, fn: () => Promise<T>, signal?: AbortSignal, priority: RestPriority = 'live'): Promise<T> {
    const lane: Lane = priority;
    if (lane === 'client') this.admitClient(weight);
    if (lane === 'start') await this.acquireStart(weight, signal);
    else await this.acquireSlot(signal, lane);
    try {
      if (lane === 'client') this.admitClient(weight);
      else if (lane === 'live') await this.waitForBudget(weight, this.opts.weightBudget, signal);
      this.used += weight;
      return await fn();
    } finally {
      this.release(lane);
      this.wakeNext();
    }
  }

  /** A start call's slot, taken only once its share of the budget has room: waiting for budget, it holds none. */
  private async acquireStart(weight: number, signal: AbortSignal | undefined): Promise<void> {
    for (;;) {
      this.startsForBudget++;
      try {
        await this.waitForBudget(weight, this.startCap, signal);
      } finally {
        this.startsForBudget--;
      }
      await this.acquireSlot(signal, 'start');
      if (this.budgetWait(weight, this.startCap) <= 0) return;
      // Another call took the room while this one waited for a slot.
      this.release('start');
      this.wakeNext();
    }
  }

  private release(lane: Lane): void {
    this.active--;
    if (lane !== 'live') this.otherActive--;
    if (lane === 'client') this.clientActive--;
  }

  /** Throws unless a client call of `weight` may go now. */
  private admitClient(weight: number): void {
    this.roll();
    const now = this.now();
    if (this.pausedUntil > now) throw refused(this.pausedUntil - now);
    // A call heavier than the whole budget may go alone at the start of a minute (or it never could).
    const cap = Math.floor(this.opts.weightBudget * (this.opts.clientShare ?? 0.5));
    if (this.used > 0 && this.used + weight > cap) throw refused((this.minute + 1) * 60_000 - now);
  }

  private wakeNext(): void {
    if (this.active >= this.opts.concurrency) return;
    const live = this.waiters.shift();
    if (live) return live();
    if (this.otherActive >= this.otherSlots) return;
    const start = this.startWaiters.shift();
    if (start) return start();
    if (this.clientActive < this.clientSlots) this.clientWaiters.shift()?.();
  }

  /** The exchange's own count wins: it includes other clients on this IP. */
  reportUsed(weight: number): void {
    this.roll();
    if (Number.isFinite(weight) && weight > this.used) this.used = weight;
  }

  /** Stops all REST until `until` (epoch ms). */
  pause(until: number): void {
    this.pausedUntil = Math.max(this.pausedUntil, until);
  }

  private roll(): void {
    const m = Math.floor(this.now() / 60_000);
    if (m !== this.minute) {
      this.minute = m;
      this.used = 0;
    }
  }

  private acquireSlot(signal: AbortSignal | undefined, lane: Lane): Promise<void> {
    const take = () => {
      this.active++;
      if (lane !== 'live') this.otherActive++;
      if (lane === 'client') this.clientActive++;
    };
    if (this.slotFree(lane)) {
      take();
      return Promise.resolve();
    }
    const queue = lane === 'live' ? this.waiters : lane === 'start' ? this.startWaiters : this.clientWaiters;
    return new Promise((resolve, reject) => {
      const go = () => {
        signal?.removeEventListener('abort', onAbort);
        take();
        resolve();
      };
      const onAbort = () => {
        const i = queue.indexOf(go);
        if (i >= 0) queue.splice(i, 1);
        reject(signal?.reason ?? new Error('aborted'));
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      queue.push(go);
    });
  }

  /** Whether a call of `lane` may take a slot now, ahead of nobody who waits before it. */
  private slotFree(lane: Lane): boolean {
    if (this.active >= this.opts.concurrency) return false;
    if (lane === 'live') return true;
    if (this.waiters.length > 0 || this.otherActive >= this.otherSlots) return false;
    if (lane === 'start') return true;
    return this.startWaiters.length === 0 && this.clientActive < this.clientSlots;
  }

  /** How long a call of `weight` waits for room under `cap` (and for a pause to end); 0 when it may go. */
  private budgetWait(weight: number, cap: number): number {
    this.roll();
    const now = this.now();
    if (this.pausedUntil > now) return this.pausedUntil - now;
    // A call heavier than the whole budget goes alone at the start of a minute (or it never could).
    if (this.used > 0 && this.used + weight > cap) return (this.minute + 1) * 60_000 - now + 50;
    return 0;
  }

  private async waitForBudget(weight: number, cap: number, signal?: AbortSignal): Promise<void> {
    for (;;) {
      signal?.throwIfAborted();
      const wait = this.budgetWait(weight, cap);
      if (wait <= 0) return;
      await sleep(Math.min(wait, 60_000), signal);
    }
  }
}

type Lane = RestPriority;

function refused(ms: number): HistoryRefusedError {
  const retryAfterSec = Math.max(1, Math.ceil(ms / 1000));
  return new HistoryRefusedError(`the exchange budget for client history is spent: retry in ${retryAfterSec} s`, { info: { reason: 'busy', retryAfterSec } });
}

export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const t = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(t);
      reject(signal?.reason);
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
