import type { Subscription } from 'rxjs';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ConnectLimiter } from '../../../engine/src/sources/connect-limiter.ts';
import { binanceKlines$, type UpstreamEvent } from '../../../engine/src/sources/binance-ws.ts';
import { type SimExchange, startSimExchange } from '../../../engine/sim/sim-exchange.ts';

const until = async (pred: () => boolean, ms = 8000, what = 'condition') => {
  const end = Date.now() + ms;
  while (!pred()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
};

describe('binanceKlines$ against the simulated exchange', () => {
  let sim: SimExchange;
  let sub: Subscription | undefined;
  const events: UpstreamEvent[] = [];
  const streams = ['btcusdt@kline_1m', 'ethusdt@kline_1m', 'solusdt@kline_1m', 'btcusdt@kline_5m', 'ethusdt@kline_5m'];
  const run = (extra: Partial<Parameters<typeof binanceKlines$>[0]> = {}) => {
    sub = binanceKlines$({ wsUrl: sim.wsUrl, streams, staleAfterMs: 60_000, rotateAfterMs: 3_600_000, backoffInitialMs: 50, backoffMaxMs: 200, ...extra }).subscribe((e) => events.push(e));
  };
  const klines = () => events.filter((e) => e.type === 'kline');
  beforeEach(async () => {
    events.length = 0;
    sim = await startSimExchange({ symbols: ['BTCUSDT', 'ETHUSDT', 'SOLUSDT'], pushIntervalMs: 40 });
  });
  afterEach(async () => {
    sub?.unsubscribe();
    await sim.close();
  });

  it('shards streams across connections and delivers every stream', async () => {
    run({ maxStreamsPerConnection: 2 });
    await until(() => sim.stats.wsOpenConnections === 3, 5000, 'three shards');
    await until(() => new Set(klines().map((e) => e.type === 'kline' && `${e.symbol}@${e.interval}`)).size === 5, 5000, 'all streams');
  });

  it('reconnects after a drop and asks for a resync', async () => {
    run();
    await until(() => klines().length > 3);
    sim.faults.dropConnections();
    await until(() => events.some((e) => e.type === 'disconnected'));
    await until(() => events.some((e) => e.type === 'connected' && e.resync), 5000, 'resync');
    const n = klines().length;
    await until(() => klines().length > n + 3);
  });

  it('replaces a connection that went silent', async () => {
    run({ staleAfterMs: 1000 });
    await until(() => klines().length > 0);
    const attempts = sim.stats.wsConnectAttempts;
    sim.faults.pauseStream();
    await until(() => sim.stats.wsConnectAttempts > attempts, 5000, 'a new connection');
    expect(events.some((e) => e.type === 'disconnected' && /stale/.test(e.reason))).toBe(true);
    sim.faults.resumeStream();
    const n = klines().length;
    await until(() => klines().length > n);
  });

  it('rotates make-before-break on serverShutdown and by age: no disconnect, no silence', async () => {
    run({ rotateAfterMs: 1500 });
    await until(() => klines().length > 0);
    const attempts = sim.stats.wsConnectAttempts;
    sim.faults.serverShutdown(600);
    await until(() => sim.stats.wsConnectAttempts > attempts, 3000, 'replacement on serverShutdown');
    await until(() => sim.stats.wsConnectAttempts > attempts + 1, 5000, 'rotation by age');
    await new Promise((r) => setTimeout(r, 800));
    expect(events.filter((e) => e.type === 'disconnected')).toEqual([]);
    // Frames kept coming throughout: no gap between consecutive frames longer than a few pushes.
    const times = klines().map((e) => (e.type === 'kline' ? e.receivedAt : 0));
    for (let i = 1; i < times.length; i++) expect(times[i]! - times[i - 1]!).toBeLessThan(400);
    expect(sim.stats.wsOpenConnections).toBe(1);
  });

  it('counts malformed frames and goes on', async () => {
    let malformed = 0;
    run({ onMalformed: () => malformed++ });
    await until(() => klines().length > 0);
    sim.faults.sendMalformed(7);
    await until(() => malformed >= 7);
    const n = klines().length;
    await until(() => klines().length > n);
  });

  it('closes every socket on unsubscribe', async () => {
    run({ maxStreamsPerConnection: 2 });
    await until(() => sim.stats.wsOpenConnections === 3);
    sub!.unsubscribe();
    sub = undefined;
    await until(() => sim.stats.wsOpenConnections === 0, 3000, 'sockets closed');
  });
});

describe('ConnectLimiter', () => {
  it('never allows more attempts than its limit in the window', async () => {
    let t = 0;
    const limiter = new ConnectLimiter(3, 1000, () => t);
    for (let i = 0; i < 3; i++) await limiter.acquire();
    expect(limiter.recent).toBe(3);
    let fourth = false;
    const p = limiter.acquire().then(() => (fourth = true));
    await new Promise((r) => setTimeout(r, 30));
    expect(fourth).toBe(false);
    t = 1001;
    await p;
    expect(fourth).toBe(true);
  });
});
