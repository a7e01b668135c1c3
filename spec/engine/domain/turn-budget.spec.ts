import { describe, expect, it } from 'vitest';
import { TurnBudget } from '../../../engine/src/domain/turn-budget.ts';

/** Resolves after the turn that is running now and the next one's immediates (I/O would run in between). */
const turns = (n: number) => new Promise<void>((resolve) => {
  const step = (left: number) => (left === 0 ? resolve() : setImmediate(() => step(left - 1)));
  step(n);
});

describe('TurnBudget', () => {
  it('runs queued tasks in order, as many per turn as fit the budget, the rest in later turns', async () => {
    let clock = 0;
    const budget = new TurnBudget(1, () => clock);
    const log: string[] = [];
    // Each task "takes" 0.4 ms of the fake clock: a turn ends at the first check past 1 ms, after its third.
    for (let i = 0; i < 7; i++)
      budget.run(() => {
        clock += 0.4;
        log.push(`t${i}`);
      });
    // A marker queued between every turn: where it lands in the log is where a turn ended.
    let markers = 0;
    const mark = () => {
      log.push('|');
      if (++markers < 6) setImmediate(mark);
    };
    setImmediate(mark);
    expect(budget.pending).toBe(7);
    await turns(8);
    expect(log.join(' ')).toBe('t0 t1 t2 | t3 t4 t5 | t6 | | | |');
    expect(budget.pending).toBe(0);
  });

  it('runs a task longer than the budget alone, and what a task queues in a later turn', async () => {
    let clock = 0;
    const budget = new TurnBudget(1, () => clock);
    const log: string[] = [];
    budget.run(() => {
      clock += 5;
      log.push('long');
      budget.run(() => log.push('queued by long'));
    });
    budget.run(() => log.push('short'));
    let markers = 0;
    const mark = () => {
      log.push('|');
      if (++markers < 3) setImmediate(mark);
    };
    setImmediate(mark);
    await turns(5);
    expect(log.join(' ')).toBe('long | short queued by long | |');
  });

  it('goes on with the rest after a task throws (the error still reaches the process)', async () => {
    const budget = new TurnBudget(1, () => 0);
    const log: string[] = [];
    const errors: unknown[] = [];
    const onError = (e: unknown) => errors.push(e);
    process.prependListener('uncaughtException', onError);
    try {
      budget.run(() => {
        throw new Error('boom');
      });
      budget.run(() => log.push('after'));
      await turns(3);
    } finally {
      process.removeListener('uncaughtException', onError);
    }
    expect(errors).toHaveLength(1);
    expect(log).toEqual(['after']);
  });
});
