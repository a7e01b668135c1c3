import { describe, expect, it } from 'vitest';
import { HistoryRefusedError } from '../../../engine/src/domain/errors.ts';
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

  it('serves waiting live calls (bootstrap, gap fills) before waiting client history, whatever the arrival order', async () => {
    const gate = new RestGate({ weightBudget: 1000, concurrency: 2 });
    const order: string[] = [];
    const releases: Array<() => void> = [];
    const hold = (name: string, priority: 'live' | 'client') =>
      gate.run(1, () => new Promise<void>((r) => (order.push(name), releases.push(r))), undefined, priority);
    const running = [hold('live-0', 'live'), hold('client-0', 'client')];
    // Both slots are busy: a flood of client calls queues first, then one gap fill.
    const clients = Array.from({ length: 5 }, (_, i) => hold(`client-${i + 1}`, 'client'));
    const gapFill = hold('gap-fill', 'live');
    await new Promise((r) => setTimeout(r, 0));
    expect(gate.clientQueued).toBe(5);
    releases.shift()!();
    await new Promise((r) => setTimeout(r, 0));
    expect(order.slice(0, 2).sort()).toEqual(['client-0', 'live-0']);
    expect(order[2]).toBe('gap-fill');
    while (releases.length) {
      releases.shift()!();
      await new Promise((r) => setTimeout(r, 0));
    }
    await Promise.all([...running, ...clients, gapFill]);
    expect(order.slice(3)).toEqual(['client-1', 'client-2', 'client-3', 'client-4', 'client-5']);
  });

  it('gives client history at most half the slots: a live call never waits behind a slot-full of clients', async () => {
    const gate = new RestGate({ weightBudget: 1000, concurrency: 4 });
    let clientsRunning = 0;
    let peak = 0;
    const releases: Array<() => void> = [];
    const clientCall = () =>
      new Promise<void>((resolve) => {
        clientsRunning++;
        peak = Math.max(peak, clientsRunning);
        releases.push(() => {
          clientsRunning--;
          resolve();
        });
      });
    const clients = Array.from({ length: 6 }, () => gate.run(1, clientCall, undefined, 'client'));
    await new Promise((r) => setTimeout(r, 0));
    expect(peak).toBe(2);
    // Two slots stay for live work, taken at once.
    expect(await gate.run(1, async () => 'live')).toBe('live');
    while (releases.length) {
      releases.shift()!();
      await new Promise((r) => setTimeout(r, 0));
    }
    await Promise.all(clients);
    expect(peak).toBe(2);
  });

  it('refuses client history beyond its share of the budget, and during a pause, with a retry time; live calls still go', async () => {
    let t = 60_000 * 1000 + 30_000; // mid-minute
    const gate = new RestGate({ weightBudget: 10, concurrency: 4, now: () => t });
    for (let i = 0; i < 2; i++) await gate.run(2, async () => undefined, undefined, 'client');
    expect(gate.weightUsed).toBe(4);
    const over = await gate.run(2, async () => 'ran', undefined, 'client').catch((e: unknown) => e);
    expect(over).toBeInstanceOf(HistoryRefusedError);
    expect((over as HistoryRefusedError).info).toEqual({ reason: 'busy', retryAfterSec: 30 });
    expect(await gate.run(2, async () => 'live')).toBe('live');
    t += 30_000; // next minute
    gate.pause(t + 5000);
    const paused = await gate.run(2, async () => 'ran', undefined, 'client').catch((e: unknown) => e);
    expect((paused as HistoryRefusedError).info).toEqual({ reason: 'busy', retryAfterSec: 5 });
  });

  it('lets a call heavier than the whole budget go alone at the start of a minute (it never could otherwise)', async () => {
    const gate = new RestGate({ weightBudget: 10, concurrency: 1 });
    expect(await gate.run(20, async () => 'exchangeInfo')).toBe('exchangeInfo');
  });
});

describe('RestGate: on-demand series (held, start)', () => {
  const tick = () => new Promise((r) => setTimeout(r, 0));

  it('serves waiting live calls, then starts, then client history; starts leave a slot to live work', async () => {
    const gate = new RestGate({ weightBudget: 1000, concurrency: 3 });
    const order: string[] = [];
    const releases = new Map<string, () => void>();
    const hold = (name: string, priority: 'live' | 'start' | 'client') =>
      gate.run(1, () => new Promise<void>((r) => (order.push(name), releases.set(name, r))), undefined, priority);
    // A flood of cold series: two run, the third slot stays free.
    const starts = Array.from({ length: 4 }, (_, i) => hold(`start-${i}`, 'start'));
    await tick();
    expect(order).toEqual(['start-0', 'start-1']);
    // A gap fill goes at once.
    const fill = hold('fill-0', 'live');
    await tick();
    expect(order).toEqual(['start-0', 'start-1', 'fill-0']);
    // All slots busy: a client call, a start and a gap fill queue, in that order.
    const client = hold('client-0', 'client');
    const lateStart = hold('start-4', 'start');
    const lateFill = hold('fill-1', 'live');
    await tick();
    releases.get('fill-0')!();
    await tick();
    expect(order.at(-1)).toBe('fill-1');
    releases.get('start-0')!();
    await tick();
    expect(order.at(-1)).toBe('start-2');
    // A freed live slot wakes no start while two run (one slot stays for live work).
    releases.get('fill-1')!();
    await tick();
    expect(order.at(-1)).toBe('start-2');
    for (const name of ['start-1', 'start-2', 'start-3', 'start-4', 'client-0']) {
      releases.get(name)!();
      await tick();
    }
    await Promise.all([...starts, fill, client, lateStart, lateFill]);
    expect(order).toEqual(['start-0', 'start-1', 'fill-0', 'fill-1', 'start-2', 'start-3', 'start-4', 'client-0']);
  });

  it('keeps starts within their share of the budget: a gap fill still goes, starts wait for the next minute holding no slot', async () => {
    let t = 60_000 * 1000 + 59_700; // 300 ms before a minute boundary
    const gate = new RestGate({ weightBudget: 10, concurrency: 1, demandShare: 0.4, now: () => t });
    const ran: string[] = [];
    for (let i = 0; i < 2; i++) await gate.run(2, async () => void ran.push(`start-${i}`), undefined, 'start');
    expect(gate.weightUsed).toBe(4);
    // Over the share (4 of 10): the next start waits, in no slot.
    const waiting = gate.run(2, async () => void ran.push('start-2'), undefined, 'start');
    await tick();
    expect(gate.waiting().start).toBe(1);
    // The one slot is free for the gap fill, which may use the rest of the budget.
    await gate.run(2, async () => void ran.push('fill'));
    await gate.run(4, async () => void ran.push('resync'));
    expect(gate.weightUsed).toBe(10);
    expect(ran).toEqual(['start-0', 'start-1', 'fill', 'resync']);
    t += 400; // the next minute
    await waiting;
    expect(ran.at(-1)).toBe('start-2');
    expect(gate.weightUsed).toBe(2);
  });

  it('lets a start waiting for a slot go back to waiting for budget when the share was taken meanwhile', async () => {
    let t = 60_000 * 1000 + 59_700;
    const gate = new RestGate({ weightBudget: 10, concurrency: 2, demandShare: 0.4, now: () => t });
    let release!: () => void;
    // Of 2 slots, starts may hold 1: the second start waits for it.
    const first = gate.run(2, () => new Promise<void>((r) => (release = r)), undefined, 'start');
    await tick();
    const second = gate.run(2, async () => 'second', undefined, 'start');
    await tick();
    expect(gate.waiting().start).toBe(1);
    // Live work spends the budget while the second start waits for its slot.
    await gate.run(6, async () => undefined);
    release();
    await first;
    await tick();
    expect(gate.waiting().start).toBe(1);
    // It got the slot, found no room under its share, gave the slot back: live work still goes.
    expect(await gate.run(1, async () => 'live')).toBe('live');
    t += 400;
    expect(await second).toBe('second');
  });
});

describe('RestGate: held on-demand series catching up', () => {
  const tick = () => new Promise((r) => setTimeout(r, 0));

  it("serves a configured series' resync before held series' fills, and those before new starts", async () => {
    const gate = new RestGate({ weightBudget: 1000, concurrency: 2 });
    const order: string[] = [];
    const releases: Array<() => void> = [];
    const hold = (name: string, priority: 'live' | 'held' | 'start') =>
      gate.run(1, () => new Promise<void>((r) => (order.push(name), releases.push(r))), undefined, priority);
    const calls = [hold('live-0', 'live'), hold('held-0', 'held')];
    await tick();
    // Both slots busy; then a flood's starts, held series' fills after a reconnect, and one configured resync.
    calls.push(hold('start-0', 'start'), hold('start-1', 'start'), hold('held-1', 'held'), hold('held-2', 'held'), hold('resync', 'live'));
    await tick();
    expect(gate.waiting()).toEqual({ live: 1, held: 2, start: 2, client: 0 });
    while (releases.length) {
      releases.shift()!();
      await tick();
    }
    await Promise.all(calls);
    expect(order).toEqual(['live-0', 'held-0', 'resync', 'held-1', 'held-2', 'start-0', 'start-1']);
  });

  it("keeps a fifth of the share for held series' fills: a flood of starts leaves it (reproduced: the fills waited for the next minute)", async () => {
    let t = 60_000 * 1000 + 59_700;
    const gate = new RestGate({ weightBudget: 100, concurrency: 4, demandShare: 0.5, now: () => t });
    // Starts spend their part: 40 of the share's 50.
    for (let i = 0; i < 20; i++) await gate.run(2, async () => undefined, undefined, 'start');
    const start = gate.run(2, async () => 'start', undefined, 'start');
    await tick();
    expect(gate.waiting().start).toBe(1);
    // A watched series' fill still goes, up to the share.
    for (let i = 0; i < 5; i++) expect(await gate.run(2, async () => 'held', undefined, 'held')).toBe('held');
    expect(gate.weightUsed).toBe(50);
    const held = gate.run(2, async () => 'held', undefined, 'held');
    await tick();
    expect(gate.waiting().held).toBe(1);
    t += 400;
    expect(await Promise.all([held, start])).toEqual(['held', 'start']);
  });

  it('counts held fills and starts against one share of the budget: the configured series keep the rest', async () => {
    let t = 60_000 * 1000 + 59_700;
    const gate = new RestGate({ weightBudget: 10, concurrency: 4, demandShare: 0.4, now: () => t });
    await gate.run(2, async () => undefined, undefined, 'held');
    await gate.run(2, async () => undefined, undefined, 'start');
    const held = gate.run(2, async () => 'held', undefined, 'held');
    const start = gate.run(2, async () => 'start', undefined, 'start');
    await tick();
    expect(gate.waiting()).toEqual({ live: 0, held: 1, start: 1, client: 0 });
    expect(await gate.run(6, async () => 'resync')).toBe('resync');
    t += 400;
    expect(await Promise.all([held, start])).toEqual(['held', 'start']);
  });
});
