import { fc, test } from '@fast-check/vitest';
import { describe, expect, it } from 'vitest';
import { SendBudget } from '../../../engine/src/server/send-budget.ts';

describe('SendBudget', () => {
  it('closes a socket whose buffer has not gone down for stuckMs, and keeps one that drains some between looks, however little', () => {
    const b = new SendBudget<string>(1e9, 1e9, 1000);
    for (let t = 0; t < 1000; t += 250) expect(b.sweep([['stuck', 500], ['slow', 5000 - t]], t)).toEqual({ stuck: [], over: [] });
    expect(b.sweep([['stuck', 500], ['slow', 3000]], 1000)).toEqual({ stuck: ['stuck'], over: [] });
    // Growing is not draining either (a client that reads nothing while updates come).
    const g = new SendBudget<string>(1e9, 1e9, 1000);
    for (let t = 0; t < 1000; t += 250) expect(g.sweep([['growing', 100 + t]], t).stuck).toEqual([]);
    expect(g.sweep([['growing', 2000]], 1000).stuck).toEqual(['growing']);
  });

  it('starts the wait over when the buffer empties', () => {
    const b = new SendBudget<string>(1e9, 1e9, 1000);
    b.sweep([['a', 500]], 0);
    b.sweep([['a', 0]], 500);
    b.sweep([['a', 500]], 750);
    expect(b.sweep([['a', 500]], 1500).stuck).toEqual([]);
    expect(b.sweep([['a', 500]], 1750).stuck).toEqual(['a']);
  });

  it('past the total, closes the sockets that did not drain since the last look, the largest first, until under it; never one that drained', () => {
    const b = new SendBudget<string>(1000, 1000, 60_000);
    b.sweep([['big', 600], ['mid', 300], ['small', 200], ['reader', 900]], 0);
    const r = b.sweep([['big', 600], ['mid', 300], ['small', 200], ['reader', 800]], 250);
    // 1,900 held: `big` goes (1,300 left), then `mid` (1,000).
    expect(r).toEqual({ stuck: [], over: ['big', 'mid'] });
    expect(b.buffered).toBe(1000);
  });

  it('refuses a first message that would pass the total to an address holding some, counting what the ones sent since the last look left buffered', () => {
    const b = new SendBudget<string>(1000, 1000, 60_000);
    b.sent('a', 'x', 400);
    b.sweep([['a', 400]], 0);
    expect(b.admit('x', 600)).toBe(true);
    b.sent('b', 'y', 500);
    expect(b.admit('x', 100)).toBe(true);
    expect(b.admit('x', 101)).toBe(false);
    // The next look counts them as they are now.
    b.sweep([['a', 400], ['b', 100]], 250);
    expect(b.admit('x', 500)).toBe(true);
  });

  it('serves an address holding nothing even with the total full; the next looks close the largest that do not drain (reproduced: a few addresses that read nothing had everyone refused)', () => {
    const b = new SendBudget<string>(1000, 1000, 60_000);
    b.sent('a', 'A', 900);
    b.sweep([['a', 900]], 0);
    expect(b.admit('A', 200)).toBe(false);
    expect(b.admit('N', 500)).toBe(true);
    b.sent('n', 'N', 500);
    // At the next look `a` has not drained and the total is past: it goes, not the newcomer.
    expect(b.sweep([['a', 900], ['n', 500]], 250)).toEqual({ stuck: [], over: ['a'] });
  });

  it("holds one address to its share: its first messages refused, its largest undrained sockets closed; another address's served", () => {
    const b = new SendBudget<string>(1000, 300, 60_000);
    b.sent('a1', 'A', 200);
    b.sent('a2', 'A', 250);
    b.sent('c1', 'C', 100);
    expect(b.admit('A', 1)).toBe(false);
    expect(b.admit('B', 300)).toBe(true);
    b.sweep([['a1', 200], ['a2', 250], ['c1', 100]], 0);
    // Not drained since: A's largest goes (450 → 200, within its 300).
    expect(b.sweep([['a1', 200], ['a2', 250], ['c1', 100]], 250)).toEqual({ stuck: [], over: ['a2'] });
    expect(b.admit('A', 100)).toBe(true);
    expect(b.admit('A', 101)).toBe(false);
  });

  it('sends a first message bigger than a bound to an address holding nothing (it is served, not refused for ever)', () => {
    const b = new SendBudget<string>(1000, 300, 60_000);
    expect(b.admit('A', 5000)).toBe(true);
    b.sent('a', 'A', 4000);
    expect(b.admit('A', 1)).toBe(false);
  });

  it('forgets a closed socket', () => {
    const b = new SendBudget<string>(1000, 1000, 1000);
    b.sent('a', 'A', 10);
    b.sweep([['a', 10], ['b', 20]], 0);
    b.forget('a');
    b.sweep([['b', 0]], 250);
    expect(b.tracked).toBe(0);
  });

  test.prop([fc.array(fc.array(fc.nat({ max: 2000 }), { minLength: 5, maxLength: 5 }), { minLength: 1, maxLength: 40 })])(
    'after each look, what is kept is at most the total, or only sockets that drained are over it',
    (looks) => {
      const b = new SendBudget<number>(3000, 3000, 1e9);
      const closed = new Set<number>();
      const last = new Map<number, number>();
      looks.forEach((sizes, t) => {
        const open = sizes.map((v, i) => [i, v] as const).filter(([i]) => !closed.has(i));
        const { over } = b.sweep(open, t * 250);
        for (const s of over) closed.add(s);
        const kept = open.filter(([i]) => !closed.has(i));
        // Drained: empty now, or less than at the last look (or not holding anything then).
        const drained = (i: number, v: number) => v === 0 || !last.get(i) || v < last.get(i)!;
        const all = kept.reduce((s, [, v]) => s + v, 0);
        expect(all <= 3000 || kept.every(([i, v]) => drained(i, v))).toBe(true);
        // Only sockets that did not drain are closed.
        for (const s of over) expect(drained(s, sizes[s]!)).toBe(false);
        expect(b.buffered).toBe(all);
        for (const [i, v] of open) last.set(i, v);
      });
    },
  );

  it('refuses a bound or a wait that is not positive', () => {
    expect(() => new SendBudget(0, 1, 1)).toThrow();
    expect(() => new SendBudget(1, 0, 1)).toThrow();
    expect(() => new SendBudget(1, 1, 0)).toThrow();
  });
});
