import type { Observable, Subscription } from 'rxjs';
import type { SeriesId } from '../domain/series-id.ts';
import type { BootstrapResult } from './bootstrap.ts';

/**
 * Series waiting to be loaded from REST, at most `concurrency` at a time: those a client is waiting
 * for go first, the rest in the order they came. The REST gate paces what runs by the weight budget,
 * so a whole universe bootstraps as fast as the budget allows while a client's series jumps the queue.
 * The waited-for ones go round robin between the askers that first asked for each (the lifecycle
 * gives the block of the client's address: its /24 or /48): many addresses each starting cold series
 * within their own ration (ON_DEMAND_PER_MIN) hold another client's one back by at most one load per
 * block, not by everything they queued before it (an attacker-style probe: 60 addresses kept ~195
 * series queued, and one cold symbol then took up to 46 s).
 * Every series is loaded once however often it is pushed; `cancel` drops it (aborting a load in flight).
 */
export class BootstrapQueue {
  /** Waited-for series by the asker that first asked for each, in turn order (a Map keeps insertion order). */
  private readonly urgent = new Map<string, SeriesId[]>();
  private readonly normal: SeriesId[] = [];
  private normalHead = 0;
  /** Series queued and not yet started, with the lane each is in now. */
  private readonly queued = new Map<string, 'urgent' | 'normal'>();
  private readonly running = new Map<string, Subscription>();
  private stopped = false;

  constructor(
    private readonly load: (id: SeriesId) => Observable<BootstrapResult>,
    private readonly concurrency: number,
    private readonly onResult: (r: BootstrapResult) => void,
    private readonly onError: (id: SeriesId, err: unknown) => void,
  ) {
    if (!(concurrency >= 1)) throw new TypeError('BootstrapQueue: concurrency must be >= 1');
  }

  /**
   * Queues a series (a no-op when queued or loading already, except that `urgent` moves it ahead),
   * `asker` who waits for it (urgent ones take turns by it; '' for none known).
   */
  push(id: SeriesId, urgent = false, asker = ''): void {
    if (this.stopped || this.running.has(id.key)) return;
    const lane = this.queued.get(id.key);
    if (lane === 'urgent' || (lane === 'normal' && !urgent)) return;
    this.queued.set(id.key, urgent ? 'urgent' : 'normal');
    if (!urgent) this.normal.push(id);
    else {
      const mine = this.urgent.get(asker);
      if (mine) mine.push(id);
      else this.urgent.set(asker, [id]);
    }
    this.drain();
  }

  /** Forgets a series: out of the queue, its load in flight aborted. */
  cancel(key: string): void {
    this.queued.delete(key);
    this.running.get(key)?.unsubscribe();
    this.running.delete(key);
    this.drain();
  }

  /** Whether a series is queued or loading here. */
  has(key: string): boolean {
    return this.queued.has(key) || this.running.has(key);
  }

  /** Whether a series is queued here and not yet started. */
  waiting(key: string): boolean {
    return this.queued.has(key);
  }

  get pending(): number {
    return this.queued.size;
  }

  get active(): number {
    return this.running.size;
  }

  stop(): void {
    this.stopped = true;
    this.urgent.clear();
    for (const s of this.running.values()) s.unsubscribe();
    this.running.clear();
    this.queued.clear();
  }

  private next(): SeriesId | undefined {
    // Entries whose lane changed (moved ahead) or that were cancelled are skipped where they lie.
    for (const [asker, mine] of this.urgent) {
      let id: SeriesId | undefined;
      while (mine.length && !id) {
        const head = mine.shift()!;
        if (this.queued.get(head.key) === 'urgent') id = head;
      }
      // This asker's turn is taken: it goes last (or leaves, with nothing left).
      this.urgent.delete(asker);
      if (mine.length) this.urgent.set(asker, mine);
      if (id) return id;
    }
    while (this.normalHead < this.normal.length) {
      const id = this.normal[this.normalHead++]!;
      if (this.queued.get(id.key) === 'normal') return id;
    }
    // The lane consumed: reset it so the array does not grow forever.
    this.normal.length = this.normalHead = 0;
    return undefined;
  }

  private drain(): void {
    while (!this.stopped && this.running.size < this.concurrency) {
      const id = this.next();
      if (!id) return;
      this.queued.delete(id.key);
      let done = false;
      // Set once subscribed; a load that finishes synchronously never is.
      const ref: { sub?: Subscription } = {};
      const finish = () => {
        done = true;
        if (ref.sub && this.running.get(id.key) === ref.sub) this.running.delete(id.key);
        this.drain();
      };
      const sub = (ref.sub = this.load(id).subscribe({
        next: (r) => this.onResult(r),
        error: (e: unknown) => {
          this.onError(id, e);
          finish();
        },
        complete: finish,
      }));
      if (!done) this.running.set(id.key, sub);
    }
  }
}
