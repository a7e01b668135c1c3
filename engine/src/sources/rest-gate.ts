import { HistoryRefusedError } from '../domain/errors.ts';

/**
 * Shared admission control for every REST call to one exchange host: a per-minute weight budget
 * (Binance counts weight per UTC clock minute), a global pause after 429/418 (`Retry-After`), and a
 * concurrency limit. Four lanes, served in this order:
 * - `live`: what the operator configured (its series' bootstraps, gap fills and resyncs, custom
 *   intervals): bounded by the configuration; may use the whole budget.
 * - `held`: gap fills and resyncs of on-demand series clients hold.
 * - `start`: the bootstrap of an on-demand series a client asked for.
 * - `client`: history a client asked for, older than the store. It never waits for budget (it is
 *   refused with a retry time), and may use at most `clientShare` of the budget and half the slots.
 * `held` and `start` together use at most `demandShare` of the budget (beyond it they wait for the
 * next minute holding no slot), `start` alone all of it but `heldReserve` (a flood of cold series
 * from many addresses spent the whole share, and the fills of series clients already watched waited
 * for the next minute: an attacker-style probe), and with `client` they leave one slot to live work. What clients can
 * make the engine fetch (up to MAX_ON_DEMAND_SERIES series, from many addresses each within its
 * ration) once took the whole budget: a flood of cold series, or of held ones catching up after a
 * reconnect, delayed a configured series' resync by up to a minute and its configured bootstraps
 * for good (attacker-style probes); now the configured series always find half the budget.
 */
export interface RestGateOptions {
  weightBudget: number;
  concurrency: number;
  now?: () => number;
  /** Part of the per-minute budget client history may use (default 0.5). */
  clientShare?: number;
  /** Part of the per-minute budget on-demand series (`held` and `start`) may use together (default 0.5). */
  demandShare?: number;
  /** Part of that share only `held` may use (default 0.2): starts leave it to the fills of watched series. */
  heldReserve?: number;
}

export type RestPriority = 'live' | 'held' | 'start' | 'client';

/** The lanes in the order they are served. */
const LANES: readonly RestPriority[] = ['live', 'held', 'start', 'client'];

export class RestGate {
  private used = 0;
  private minute = -1;
  private pausedUntil = 0;
  private active = 0;
  private clientActive = 0;
  /** Calls of every lane but `live` running: together they leave a slot to live work. */
  private otherActive = 0;
  private readonly waiters: Record<RestPriority, Array<() => void>> = { live: [], held: [], start: [], client: [] };
  /** On-demand calls waiting for their share of the budget (holding no slot), by lane. */
  private readonly forBudget = { held: 0, start: 0 };
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
    return this.waiters.client.length;
  }

  /** Calls waiting for a slot or for their share of the budget, by lane (a live call waiting for budget holds its slot and is not counted). */
  waiting(): Record<RestPriority, number> {
    const w = this.waiters;
    return { live: w.live.length, held: w.held.length + this.forBudget.held, start: w.start.length + this.forBudget.start, client: w.client.length };
  }

  private get clientSlots(): number {
    return Math.max(1, Math.floor(this.opts.concurrency / 2));
  }

  /** Slots the lanes other than live may hold together: all but one (a live call waits for one call at most). */
  private get otherSlots(): number {
    return Math.max(1, this.opts.concurrency - 1);
  }

  private get demandCap(): number {
    return Math.floor(this.opts.weightBudget * (this.opts.demandShare ?? 0.5));
  }

  /** What a lane of on-demand series may use of the minute's budget. */
  private laneCap(lane: 'held' | 'start'): number {
    const cap = this.demandCap;
    return lane === 'held' ? cap : cap - Math.floor(cap * (this.opts.heldReserve ?? 0.2));
  }

  /**
   * Waits for a slot (by lane) and budget, runs `fn`, releases. A client call that would pass its
   * share of the budget, or arrives during a pause, is refused with HistoryRefusedError; an on-demand
   * one waits for its share.
   */
  async run<T>(weight: number, fn: () => Promise<T>, signal?: AbortSignal, lane: RestPriority = 'live'): Promise<T> {
    if (lane === 'client') this.admitClient(weight);
    if (lane === 'held' || lane === 'start') await this.acquireDemand(weight, signal, lane);
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

  /** An on-demand call's slot, taken only once its share of the budget has room: waiting for budget, it holds none. */
  private async acquireDemand(weight: number, signal: AbortSignal | undefined, lane: 'held' | 'start'): Promise<void> {
    for (;;) {
      this.forBudget[lane]++;
      try {
        await this.waitForBudget(weight, this.laneCap(lane), signal);
      } finally {
        this.forBudget[lane]--;
      }
      await this.acquireSlot(signal, lane);
      if (this.budgetWait(weight, this.laneCap(lane)) <= 0) return;
      // Another call took the room while this one waited for a slot.
      this.release(lane);
      this.wakeNext();
    }
  }

  private release(lane: RestPriority): void {
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
    for (const lane of LANES) {
      if (this.waiters[lane].length === 0) continue;
      if (this.slotFree(lane, true)) this.waiters[lane].shift()!();
      return;
    }
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

  private acquireSlot(signal: AbortSignal | undefined, lane: RestPriority): Promise<void> {
    const take = () => {
      this.active++;
      if (lane !== 'live') this.otherActive++;
      if (lane === 'client') this.clientActive++;
    };
    if (this.slotFree(lane, false)) {
      take();
      return Promise.resolve();
    }
    const queue = this.waiters[lane];
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

  /**
   * Whether a call of `lane` may take a slot now: one free, its lane's limits, and (`head`: it is its
   * lane's first waiter) nobody waiting in a lane before it or, for a newcomer, in its own.
   */
  private slotFree(lane: RestPriority, head: boolean): boolean {
    if (this.active >= this.opts.concurrency) return false;
    for (const before of LANES) {
      if (before === lane) break;
      if (this.waiters[before].length > 0) return false;
    }
    if (!head && this.waiters[lane].length > 0) return false;
    if (lane === 'live') return true;
    if (this.otherActive >= this.otherSlots) return false;
    return lane !== 'client' || this.clientActive < this.clientSlots;
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
