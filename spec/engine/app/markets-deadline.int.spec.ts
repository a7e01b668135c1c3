import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { App } from '../../../engine/src/app.ts';
import { type SimExchange, startSimExchange } from '../../../engine/sim/sim-exchange.ts';
import { startTestApp } from '../../helpers/test-app.ts';
import { EngineClient } from '../../helpers/ws-client.ts';

/**
 * The start asks the exchange its time and its markets (exchangeInfo). An exchange that never
 * answered held the start for minutes (the REST client's own retries, each up to 30 s: an
 * attacker-style probe of a dripping exchange saw about 3 minutes for exchangeInfo, 30 s for the
 * time): now it waits at most 5 s for the time (the host's clock stands in) and 15 s for the markets
 * (the configured symbols are served, and the markets asked for again every 30 s by series-feed).
 */
function startAgainstStalled(paths: string[]): { started: () => { app: App; ms: number; firstHeldAt: Map<string, number>; heldAtReady: string[] } } {
  let sim: SimExchange;
  let app: App | undefined;
  let ms = 0;
  // When the exchange first held each path (ms into the start), and what it held once the start was done.
  const firstHeldAt = new Map<string, number>();
  let heldAtReady: string[] = [];
  beforeAll(async () => {
    sim = await startSimExchange({ symbols: ['BTCUSDT'], pushIntervalMs: 100 });
    sim.faults.stallRest(paths);
    const t0 = Date.now();
    const peek = setInterval(() => {
      for (const p of sim.faults.stalledRequests()) if (!firstHeldAt.has(p)) firstHeldAt.set(p, Date.now() - t0);
    }, 50);
    app = await startTestApp({ source: 'binance', restUrl: sim.restUrl, wsUrl: sim.wsUrl, symbols: ['BTCUSDT'], intervals: ['1m'], bufferSize: 300 });
    ms = Date.now() - t0;
    heldAtReady = sim.faults.stalledRequests();
    clearInterval(peek);
  }, 60_000);
  afterAll(async () => {
    sim?.faults.restoreRest();
    await app?.stop();
    await sim?.close();
  });
  return { started: () => ({ app: app!, ms, firstHeldAt, heldAtReady }) };
}

/** The configured symbol is served: a snapshot, then live candles. */
async function serves(app: App): Promise<void> {
  const client = new EngineClient(`${app.url.replace('http', 'ws')}/ws/BTCUSDT?interval=1m`);
  try {
    await client.until((c) => c.historical() !== undefined && c.live().length > 0, 15_000, 'historical and live candles');
  } finally {
    client.close();
  }
}

describe('a start whose exchangeInfo never answers', () => {
  const { started } = startAgainstStalled(['/api/v3/exchangeInfo']);

  it('serves the configured symbols once its deadline passed', async () => {
    const { app, ms } = started();
    // The deadline (15 s) plus the rest of a start on a busy host.
    expect(ms).toBeLessThan(30_000);
    expect(ms).toBeGreaterThanOrEqual(14_000);
    await serves(app);
  }, 60_000);
});

describe('a start whose /api/v3/time never answers', () => {
  const { started } = startAgainstStalled(['/api/v3/time']);

  it('waits for it 5 s at most, the host standing in until the exchange streams', async () => {
    const { app, ms, heldAtReady } = started();
    expect(ms).toBeGreaterThanOrEqual(4500);
    // Asked once: before, twice, 5 s each (counted, not timed: a busy host stretches any start).
    expect(heldAtReady.filter((p) => p === '/api/v3/time')).toHaveLength(1);
    expect(ms).toBeLessThan(30_000);
    await serves(app);
  }, 60_000);
});

describe('a start whose time and exchangeInfo both never answer', () => {
  const { started } = startAgainstStalled(['/api/v3/time', '/api/v3/exchangeInfo']);

  it('asks both at once and waits for the longer deadline, not their sum (was the time first: 21 s)', async () => {
    const { app, ms, firstHeldAt } = started();
    // Asked one after the other, the markets were asked once the time's 5 s were over.
    const time = firstHeldAt.get('/api/v3/time');
    const markets = firstHeldAt.get('/api/v3/exchangeInfo');
    expect(time).toBeDefined();
    expect(markets).toBeDefined();
    expect(Math.abs(markets! - time!)).toBeLessThan(2500);
    expect(ms).toBeGreaterThanOrEqual(14_000);
    expect(ms).toBeLessThan(30_000);
    await serves(app);
  }, 60_000);
});
