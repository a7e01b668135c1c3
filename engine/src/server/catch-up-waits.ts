/**
 * Waits until a condition holds or a deadline passes, on one shared timer for every waiter: clients
 * resuming ahead of this node's feed (their edge died) wait for it to catch up, each polled every few
 * milliseconds. A timer per client (2,000 resuming at once: 200,000 timers a second) cost an edge
 * 2.4 times the CPU of the same resumes served at once (an attacker-style probe). The timer runs only
 * while someone waits.
 */
export class CatchUpWaits {
  private readonly waits = new Set<{ ready(): boolean; deadline: number; go(): void }>();
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly pollMs: number) {}

  /** Runs `go` once `ready()` holds, or after `maxMs`; `ready` is asked at every poll. */
  wait(ready: () => boolean, maxMs: number, go: () => void): void {
    this.waits.add({ ready, deadline: performance.now() + maxMs, go });
    this.timer ??= setInterval(this.poll, this.pollMs);
  }

  get size(): number {
    return this.waits.size;
  }

  /** Ends every wait without its `go` (at shutdown). */
  clear(): void {
    this.waits.clear();
    this.stopIfIdle();
  }

  private readonly poll = (): void => {
    const now = performance.now();
    for (const w of this.waits) {
      if (!w.ready() && now < w.deadline) continue;
      this.remove(w);
      w.go();
    }
  };

  private remove(w: { ready(): boolean; deadline: number; go(): void }): void {
    this.waits.delete(w);
    this.stopIfIdle();
  }

  private stopIfIdle(): void {
    if (this.waits.size || !this.timer) return;
    clearInterval(this.timer);
    this.timer = undefined;
  }
}
