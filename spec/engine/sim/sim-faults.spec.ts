import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { type SimExchange, startSimExchange } from '../../../engine/sim/sim-exchange.ts';
import { sleep, StreamClient } from './stream-client.ts';

const M = 60_000;
const STREAM = 'btcusdt@kline_1m';
let sim: SimExchange;
const clients: StreamClient[] = [];
const connect = (path = `/stream?streams=${STREAM}`) => {
  const c = new StreamClient(`${sim.wsUrl}${path}`);
  clients.push(c);
  return c;
};

/** Open times with an x:true event, each with how many it got. */
function finalsByOpen(c: StreamClient): Map<number, number> {
  const out = new Map<number, number>();
  for (const e of c.klines(STREAM)) if (e.k.x) out.set(e.k.t, (out.get(e.k.t) ?? 0) + 1);
  return out;
}

describe('simulated exchange WebSocket faults', () => {
  beforeAll(async () => {
    sim = await startSimExchange({ symbols: ['BTCUSDT', 'ETHUSDT'], pushIntervalMs: 50, clockSpeed: 60 });
  });
  afterEach(async () => {
    sim.faults.resumeStream();
    sim.faults.omitFinals(0);
    sim.faults.delayFinals(0);
    for (const c of clients.splice(0)) c.close();
    await vi.waitFor(() => expect(sim.stats.wsOpenConnections).toBe(0), { timeout: 3000 });
  });
  afterAll(async () => {
    await sim?.close();
  });

  it('dropConnections: every connection ends abruptly (1006, no close frame)', async () => {
    const a = connect();
    const b = connect(`/ws/ethusdt@kline_1m`);
    await a.until(() => a.texts.length > 0, 3000, 'frames');
    await b.until(() => b.texts.length > 0, 3000, 'frames');
    expect(sim.stats.wsOpenConnections).toBe(2);
    sim.faults.dropConnections();
    await a.until(() => a.closeCode !== undefined, 3000, 'close a');
    await b.until(() => b.closeCode !== undefined, 3000, 'close b');
    expect([a.closeCode, b.closeCode]).toEqual([1006, 1006]);
    await vi.waitFor(() => expect(sim.stats.wsOpenConnections).toBe(0), { timeout: 3000 });
  });

  it('refuseConnections: upgrades answer HTTP 503 for the given time, attempts still counted', async () => {
    const attempts = sim.stats.wsConnectAttempts;
    sim.faults.refuseConnections(400);
    const refused = connect();
    await refused.until(() => refused.error !== undefined, 3000, 'refusal');
    expect(refused.error!.message).toMatch(/503/);
    await sleep(450);
    const ok = connect();
    await ok.until(() => ok.texts.length > 0, 3000, 'frames after the refusal');
    expect(sim.stats.wsConnectAttempts).toBe(attempts + 2);
  });

  it('pauseStream/resumeStream: frames stop while the connection stays open, then resume', async () => {
    const c = connect();
    await c.until(() => c.texts.length >= 3, 3000, 'frames');
    sim.faults.pauseStream();
    await sleep(100); // frames already in flight
    const paused = c.texts.length;
    await sleep(400); // eight push periods
    expect(c.texts.length).toBe(paused);
    expect(c.open).toBe(true);
    sim.faults.resumeStream();
    await c.until(() => c.texts.length > paused + 2, 3000, 'frames after resume');
  });

  it('omitFinals(1): the next close of each stream has no x:true; the one after has exactly one', async () => {
    const c = connect();
    await c.until(() => c.klines(STREAM).length >= 2, 3000, 'frames');
    // Paused, the stream's last pushed bucket is known and its close cannot slip out before the fault.
    sim.faults.pauseStream();
    await sleep(100);
    const last = c.klines(STREAM).at(-1)!.k.t;
    sim.faults.omitFinals(1);
    sim.faults.resumeStream();
    await c.until(() => finalsByOpen(c).has(last + M), 5000, 'the next final');
    await c.until(() => c.klines(STREAM).some((e) => e.k.t >= last + 2 * M), 5000, 'a later candle');
    expect(finalsByOpen(c).has(last)).toBe(false);
    expect(c.klines(STREAM).some((e) => e.k.t === last + M && !e.k.x)).toBe(true);
    expect(finalsByOpen(c).get(last + M)).toBe(1);
  });

  it('delayFinals: x:true comes late (after the next candle’s updates) and still once', async () => {
    const c = connect();
    await c.until(() => c.klines(STREAM).length >= 1, 3000, 'frames');
    sim.faults.delayFinals(300);
    const first = c.klines(STREAM).at(-1)!.k.t;
    await c.until(() => [...finalsByOpen(c).keys()].some((t) => t > first), 6000, 'a delayed final');
    const events = c.klines(STREAM);
    const t = [...finalsByOpen(c).keys()].find((k) => k > first)!;
    const finalAt = events.findIndex((e) => e.k.t === t && e.k.x);
    const nextAt = events.findIndex((e) => e.k.t > t);
    expect(nextAt).toBeGreaterThanOrEqual(0);
    expect(nextAt).toBeLessThan(finalAt);
    expect(events[finalAt]!.E - events[nextAt]!.E, 'sim ms between the next candle and the late final (300 ms at 60x)').toBeGreaterThan(10_000);
    expect(finalsByOpen(c).get(t)).toBe(1);
  });

  it('sendMalformed(n): n garbage frames on every connection, which stays open and keeps streaming', async () => {
    const a = connect();
    const b = connect(`/ws/${STREAM}`);
    await a.until(() => a.texts.length > 0, 3000, 'frames a');
    await b.until(() => b.texts.length > 0, 3000, 'frames b');
    const [na, nb] = [a.klines(STREAM).length, b.klines(STREAM).length];
    sim.faults.sendMalformed(6);
    await a.until(() => a.klines(STREAM).length > na + 2, 3000, 'valid frames after the garbage');
    await b.until(() => b.klines(STREAM).length > nb + 2, 3000, 'valid frames after the garbage');
    for (const c of [a, b]) {
      const valid = new Set(c.klines(STREAM).map((e) => JSON.stringify(e)));
      const bad = c.messages().filter((m) => {
        const event = (m as { data?: unknown } | undefined)?.data ?? m;
        return !valid.has(JSON.stringify(event));
      });
      expect(bad).toHaveLength(6);
      expect(c.open).toBe(true);
    }
  });

  it('serverShutdown: the event (combined and raw shapes), then a close after the delay', async () => {
    const combined = connect();
    const raw = connect(`/ws/${STREAM}`);
    await combined.until(() => combined.texts.length > 0, 3000, 'frames');
    await raw.until(() => raw.texts.length > 0, 3000, 'frames');
    const started = Date.now();
    sim.faults.serverShutdown(300);
    await combined.until(() => combined.messages().some((m) => (m as { stream?: string }).stream === '!serverShutdown'), 3000, 'shutdown event');
    expect(combined.messages().find((m) => (m as { stream?: string }).stream === '!serverShutdown')).toEqual({ stream: '!serverShutdown', data: { e: 'serverShutdown', E: expect.any(Number) } });
    await raw.until(() => raw.messages().some((m) => (m as { e?: string }).e === 'serverShutdown'), 3000, 'raw shutdown event');
    expect(combined.closeCode).toBeUndefined();
    await combined.until(() => combined.closeCode !== undefined, 3000, 'close');
    await raw.until(() => raw.closeCode !== undefined, 3000, 'close');
    expect(Date.now() - started).toBeGreaterThanOrEqual(280);
    expect([combined.closeCode, raw.closeCode]).toEqual([1001, 1001]);
  });
});
