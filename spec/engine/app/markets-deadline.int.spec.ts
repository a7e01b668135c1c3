import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { App } from '../../../engine/src/app.ts';
import { type SimExchange, startSimExchange } from '../../../engine/sim/sim-exchange.ts';
import { startTestApp } from '../../helpers/test-app.ts';
import { EngineClient } from '../../helpers/ws-client.ts';

/**
 * The start reads the exchange's markets (exchangeInfo) once. An exchange that never answered it held
 * the start for minutes (the REST client's own retries, each up to 30 s: an attacker-style probe of a
 * dripping exchange saw about 3 minutes): now the start waits at most 15 s, serves the configured
 * symbols meanwhile, and asks for the markets again every 30 s (series-feed).
 */
describe('a start whose exchangeInfo never answers', () => {
  let sim: SimExchange;
  let app: App | undefined;
  let startedInMs = 0;
  beforeAll(async () => {
    sim = await startSimExchange({ symbols: ['BTCUSDT'], pushIntervalMs: 100 });
    sim.faults.stallRest(['/api/v3/exchangeInfo']);
    const t0 = Date.now();
    app = await startTestApp({ source: 'binance', restUrl: sim.restUrl, wsUrl: sim.wsUrl, symbols: ['BTCUSDT'], intervals: ['1m'], bufferSize: 300 });
    startedInMs = Date.now() - t0;
  }, 60_000);
  afterAll(async () => {
    sim?.faults.restoreRest();
    await app?.stop();
    await sim?.close();
  });

  it('serves the configured symbols once its deadline passed', async () => {
    // The deadline (15 s) plus the rest of a start on a busy host.
    expect(startedInMs).toBeLessThan(30_000);
    expect(startedInMs).toBeGreaterThanOrEqual(14_000);
    const client = new EngineClient(`${app!.url.replace('http', 'ws')}/ws/BTCUSDT?interval=1m`);
    try {
      await client.until((c) => c.historical() !== undefined && c.live().length > 0, 15_000, 'historical and live candles');
    } finally {
      client.close();
    }
  }, 60_000);
});

/** The same for the exchange's time, asked before anything else: two unanswered asks held the start 30 s. */
describe('a start whose /api/v3/time never answers', () => {
  let sim: SimExchange;
  let app: App | undefined;
  let startedInMs = 0;
  beforeAll(async () => {
    sim = await startSimExchange({ symbols: ['BTCUSDT'], pushIntervalMs: 100 });
    sim.faults.stallRest(['/api/v3/time']);
    const t0 = Date.now();
    app = await startTestApp({ source: 'binance', restUrl: sim.restUrl, wsUrl: sim.wsUrl, symbols: ['BTCUSDT'], intervals: ['1m'], bufferSize: 300 });
    startedInMs = Date.now() - t0;
  }, 60_000);
  afterAll(async () => {
    sim?.faults.restoreRest();
    await app?.stop();
    await sim?.close();
  });

  it('waits for it 5 s at most, the host standing in until the exchange streams', async () => {
    expect(startedInMs).toBeGreaterThanOrEqual(4500);
    // Two asks of 5 s each before: over 10 s.
    expect(startedInMs).toBeLessThan(9000);
    const client = new EngineClient(`${app!.url.replace('http', 'ws')}/ws/BTCUSDT?interval=1m`);
    try {
      await client.until((c) => c.historical() !== undefined && c.live().length > 0, 15_000, 'historical and live candles');
    } finally {
      client.close();
    }
  }, 60_000);
});
