import { HistoryRefusedError } from '../domain/errors.ts';

/**
 * Shared admission control for every REST call to one exchange host: a per-minute weight budget
 * (Binance counts weight per UTC clock minute), a global pause after 429/418 (`Retry-After`), and a
 * concurrency limit. Two priorities: `live` (bootstrap, gap fills, resyncs: the engine's own work,
 * bounded by the series it keeps) always goes first; `client` (history a client asked for, older
 * than the store) gets what is left, never waits for budget (it is refused with a retry time), may
 * use at most `clientShare` of the budget and half the concurrency, so it can never starve live work.
 */
export interface RestGateOptions {
  weightBudget: number;
  concurrency: number;
  now?: () => number;
  /** Part of the per-minute budget client history may use (default 0.5). */
  clientShare?: number;
}

export type RestPriority = 'live' | 'client';

export class RestGate {
  private used = 0;
  private minute = -1;
  private pausedUntil = 0;
  private active = 0;
  private clientActive = 0;
  private readonly waiters: Array<() => void> = [];
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

  private get clientSlots(): number {
    return Math.max(1, Math.floor(this.opts.concurrency / 2));
  }

  /**
   * Waits for a slot (live before client) and budget, runs `fn`, releases. A client call that would
   * pass its share of the budget, or arrives during a pause, is refused with HistoryRefusedError.
   */
  async run<T>(weight: number, fn: () => Promise<T>, signal?: AbortSignal, priority: RestPriority = 'live'): Promise<T> {
    const client = priority === 'client';
    if (client) this.admitClient(weight);
    await this.acquireSlot(signal, client);
    try {
      if (client) this.admitClient(weight);
      else await this.waitForBudget(weight, signal);
      this.used += weight;
      return await fn();
    } finally {
      this.active--;
      if (client) this.clientActive--;
      this.wakeNext();
    }
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

  private acquireSlot(signal: AbortSignal | undefined, client: boolean): Promise<void> {
    const free = this.active < this.opts.concurrency && (client ? this.clientActive < this.clientSlots && this.waiters.length === 0 : true);
    if (free) {
      this.active++;
      if (client) this.clientActive++;
      return Promise.resolve();
    }
    const queue = client ? this.clientWaiters : this.waiters;
    return new Promise((resolve, reject) => {
      const go = () => {
        signal?.removeEventListener('abort', onAbort);
        this.active++;
        if (client) this.clientActive++;
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

  private async waitForBudget(weight: number, signal?: AbortSignal): Promise<void> {
    for (;;) {
      signal?.throwIfAborted();
      this.roll();
      const now = this.now();
      let wait = 0;
      if (this.pausedUntil > now) wait = this.pausedUntil - now;
      // A call heavier than the whole budget goes alone at the start of a minute (or it never could).
      else if (this.used > 0 && this.used + weight > this.opts.weightBudget) wait = (this.minute + 1) * 60_000 - now + 50;
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
