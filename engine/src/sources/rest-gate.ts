/**
 * Shared admission control for every REST call to one exchange host: a per-minute weight budget
 * (Binance counts weight per UTC clock minute), a global pause after 429/418 (`Retry-After`), and a
 * concurrency limit. Waiting callers queue in FIFO order; the queue is bounded by the callers themselves
 * (bootstrap and gap fills), each of which awaits its turn.
 */
export interface RestGateOptions {
  weightBudget: number;
  concurrency: number;
  now?: () => number;
}

export class RestGate {
  private used = 0;
  private minute = -1;
  private pausedUntil = 0;
  private active = 0;
  private readonly waiters: Array<() => void> = [];
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

  /** Waits for a slot and budget, runs `fn`, releases. */
  async run<T>(weight: number, fn: () => Promise<T>, signal?: AbortSignal): Promise<T> {
    await this.acquireSlot(signal);
    try {
      await this.waitForBudget(weight, signal);
      this.used += weight;
      return await fn();
    } finally {
      this.active--;
      this.waiters.shift()?.();
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

  private acquireSlot(signal?: AbortSignal): Promise<void> {
    if (this.active < this.opts.concurrency) {
      this.active++;
      return Promise.resolve();
    }
    return new Promise((resolve, reject) => {
      const go = () => {
        signal?.removeEventListener('abort', onAbort);
        this.active++;
        resolve();
      };
      const onAbort = () => {
        const i = this.waiters.indexOf(go);
        if (i >= 0) this.waiters.splice(i, 1);
        reject(signal?.reason ?? new Error('aborted'));
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      this.waiters.push(go);
    });
  }

  private async waitForBudget(weight: number, signal?: AbortSignal): Promise<void> {
    for (;;) {
      signal?.throwIfAborted();
      this.roll();
      const now = this.now();
      let wait = 0;
      if (this.pausedUntil > now) wait = this.pausedUntil - now;
      else if (this.used + weight > this.opts.weightBudget) wait = (this.minute + 1) * 60_000 - now + 50;
      if (wait <= 0) return;
      await sleep(Math.min(wait, 60_000), signal);
    }
  }
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
