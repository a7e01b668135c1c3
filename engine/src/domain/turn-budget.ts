/**
 * Work that may wait a turn (a cold series' first snapshot and its send), run in event-loop turns of
 * at most about `budgetMs` each: the tasks queued run one after another in a setImmediate, and once a
 * turn has used its budget the rest go to the next turn, so the I/O in between (the live updates
 * other clients are waiting for) runs first. A task is never split: one longer than the budget runs
 * alone in its turn, and a task queued by a task runs in a later turn. Tasks run in the order they
 * were queued.
 */
export class TurnBudget {
  private queue: Array<() => void> = [];
  private head = 0;
  private scheduled = false;
  /** When the turn running now started (NaN: none runs). */
  private turnStart = Number.NaN;

  constructor(
    private readonly budgetMs = 1,
    private readonly now: () => number = () => performance.now(),
  ) {}

  /** Runs `task` in a later turn (within the budget of that turn). */
  run(task: () => void): void {
    this.queue.push(task);
    this.schedule();
  }

  /**
   * Budget left in the turn running now (ms; the whole budget outside one): a task that can stop
   * part-way (a slice of bars) stops when it is spent, and queues the rest.
   */
  left(): number {
    return Number.isNaN(this.turnStart) ? this.budgetMs : this.budgetMs - (this.now() - this.turnStart);
  }

  /** Tasks queued and not yet run. */
  get pending(): number {
    return this.queue.length - this.head;
  }

  private schedule(): void {
    if (this.scheduled || this.pending === 0) return;
    this.scheduled = true;
    setImmediate(() => this.drain());
  }

  private drain(): void {
    this.scheduled = false;
    const start = this.now();
    this.turnStart = start;
    // Tasks queued by these tasks wait for a later turn (a task that queues its next step yields).
    const end = this.queue.length;
    try {
      do {
        const task = this.queue[this.head]!;
        this.queue[this.head++] = noop; // let it go
        task();
      } while (this.head < end && this.now() - start < this.budgetMs);
    } finally {
      this.turnStart = Number.NaN;
      if (this.pending === 0) {
        this.queue = [];
        this.head = 0;
      }
      // The rest (also after a task threw: the error still reaches the process) in the next turn.
      this.schedule();
    }
  }
}

const noop = () => {};
