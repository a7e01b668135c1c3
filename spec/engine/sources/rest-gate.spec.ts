import { describe, expect, it } from 'vitest';
import { RestGate } from '../../../engine/src/sources/rest-gate.ts';

describe('RestGate', () => {
  it('limits concurrency', async () => {
    const gate = new RestGate({ weightBudget: 1000, concurrency: 2 });
    let active = 0;
    let peak = 0;
    const task = () =>
      gate.run(1, async () => {
        active++;
        peak = Math.max(peak, active);
        await new Promise((r) => setTimeout(r, 5));
        active--;
      });
    await Promise.all(Array.from({ length: 10 }, task));
    expect(peak).toBe(2);
  });

  it('waits for the next minute when the budget is spent', async () => {
    let t = 60_000 * 1000 + 59_900; // 100 ms before a minute boundary
    const gate = new RestGate({ weightBudget: 4, concurrency: 4, now: () => t });
    await gate.run(2, async () => undefined);
    await gate.run(2, async () => undefined);
    expect(gate.weightUsed).toBe(4);
    const started = Date.now();
    const p = gate.run(2, async () => 'ran');
    // Advance the fake clock past the boundary while the gate sleeps (its sleep is ~150 ms real time).
    setTimeout(() => (t += 200), 20);
    expect(await p).toBe('ran');
    expect(Date.now() - started).toBeGreaterThanOrEqual(100);
    expect(gate.weightUsed).toBe(2);
  });

  it('pauses everything until Retry-After has passed, and trusts the exchange-reported weight', async () => {
    const gate = new RestGate({ weightBudget: 100, concurrency: 4 });
    gate.reportUsed(42);
    expect(gate.weightUsed).toBe(42);
    gate.pause(Date.now() + 300);
    expect(gate.pausedForMs).toBeGreaterThan(200);
    const started = Date.now();
    await gate.run(1, async () => undefined);
    expect(Date.now() - started).toBeGreaterThanOrEqual(280);
  });

  it('releases a waiting caller on abort', async () => {
    const gate = new RestGate({ weightBudget: 100, concurrency: 1 });
    let release!: () => void;
    const first = gate.run(1, () => new Promise<void>((r) => (release = r)));
    const ac = new AbortController();
    const second = gate.run(1, async () => 'never', ac.signal);
    ac.abort(new Error('stop'));
    await expect(second).rejects.toThrow('stop');
    release();
    await first;
    expect(await gate.run(1, async () => 'after')).toBe('after');
  });
});
