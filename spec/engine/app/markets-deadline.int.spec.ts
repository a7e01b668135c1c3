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
function startAgainstStalled(paths: string[]): { started: () => { app: App; ms: number; heldAt2s: string[] } } {
  let sim: SimExchange;
  let app: App | undefined;
  let ms = 0;
  let heldAt2s: string[] = [];
  beforeAll(async () => {
    sim = await startSimExchange({ symbols: ['BTCUSDT'], pushIntervalMs: 100 });
    sim.faults.stallRest(paths);
    const t0 = Date.now();
    // What the exchange holds 2 s into the start: the asks made by then (each deadline is longer).
    const peek = setTimeout(() => (heldAt2s = sim.faults.stalledRequests()), 2000);
    app = await startTestApp({ source: 'binance', restUrl: sim.restUrl, wsUrl: sim.wsUrl, symbols: ['BTCUSDT'], intervals: ['1m'], bufferSize: 300 });
    ms = Date.now() - t0;
    clearTimeout(peek);
  }, 60_000);
  afterAll(async () => {
    sim?.faults.restoreRest();
    await app?.stop();
    await sim?.close();
  });
  return { started: () => ({ app: app!, ms, heldAt2s }) };
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
    const { app, ms } = started();
    expect(ms).toBeGreaterThanOrEqual(4500);
    // Two asks of 5 s each before: over 10 s.
    expect(ms).toBeLessThan(9000);
    await serves(app);
  }, 60_000);
});

describe('a start whose time and exchangeInfo both never answer', () => {
  const { started } = startAgainstStalled(['/api/v3/time', '/api/v3/exchangeInfo']);

  it('asks both at once and waits for the longer deadline, not their sum (was the time first: 21 s)', async () => {
    const { app, ms, heldAt2s } = started();
    // Asked one after the other, only the time was asked in the first 5 s.
    expect(heldAt2s.sort()).toEqual(['/api/v3/exchangeInfo', '/api/v3/time']);
    expect(ms).toBeGreaterThanOrEqual(14_000);
    expect(ms).toBeLessThan(30_000);
    await serves(app);
  }, 60_000);
});
