import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError } from '../../../engine/src/domain/errors.ts';
import { bucketOpen } from '../../../engine/src/domain/interval.ts';
import { readSimEnv } from '../../../engine/sim/sim-env.ts';
import { type SimExchange, startSimExchange } from '../../../engine/sim/sim-exchange.ts';
import { StreamClient } from './stream-client.ts';

describe('SIM_START', () => {
  it.each([
    ['2024-03-20', Date.UTC(2024, 2, 20)],
    ['2024-03-20T12:34:56Z', Date.UTC(2024, 2, 20, 12, 34, 56)],
    ['2024-03-20T12:34', Date.UTC(2024, 2, 20, 12, 34)], // no offset: UTC, not the machine's zone
    ['2024-03-20T12:34:56.789+02:00', Date.UTC(2024, 2, 20, 10, 34, 56, 789)],
    ['1710936000000', 1710936000000],
  ])('%s is the sim clock start %d', (value, ms) => {
    expect(readSimEnv({ SIM_START: value }).clockStart).toBe(ms);
  });

  it('is unset by default (the sim clock starts at the real time)', () => {
    expect(readSimEnv({}).clockStart).toBeUndefined();
    expect(readSimEnv({ SIM_START: ' ' }).clockStart).toBeUndefined();
  });

  it.each(['yesterday', '2024-02-31', '2024-13-01', '20/03/2024', '1710936000.5', '-1', '2018-06-01', '2100-01-01', '99999999999999999'])('rejects %s with a ConfigError naming SIM_START', (value) => {
    expect(() => readSimEnv({ SIM_START: value })).toThrow(ConfigError);
    expect(() => readSimEnv({ SIM_START: value })).toThrow(/SIM_START=/);
  });

  it('SIM_UNIVERSE sets the number of TRADING symbols', () => {
    expect(readSimEnv({ SIM_UNIVERSE: '300' }).universeSize).toBe(300);
    expect(() => readSimEnv({ SIM_UNIVERSE: 'all' })).toThrow(/SIM_UNIVERSE=/);
  });
});

describe('the sim clock drives /api/v3/time, exchangeInfo and every kline event', () => {
  const START = Date.UTC(2024, 2, 20, 12, 0, 30);
  let sim: SimExchange;
  beforeAll(async () => {
    sim = await startSimExchange({ symbols: ['BTCUSDT'], clockStart: START, clockSpeed: 10, pushIntervalMs: 100 });
  });
  afterAll(async () => {
    await sim?.close();
  });

  it('serverTime is the sim clock', async () => {
    const before = sim.now();
    const { serverTime } = (await (await fetch(`${sim.restUrl}/api/v3/time`)).json()) as { serverTime: number };
    const info = (await (await fetch(`${sim.restUrl}/api/v3/exchangeInfo`)).json()) as { serverTime: number };
    expect(serverTime).toBeGreaterThanOrEqual(before);
    expect(serverTime).toBeLessThanOrEqual(sim.now());
    expect(info.serverTime).toBeGreaterThanOrEqual(serverTime);
    expect(serverTime - START).toBeLessThan(60_000); // not the real time (years later)
  });

  it('kline events carry E from the sim clock, and t/T of the sim clock’s bucket', async () => {
    const c = new StreamClient(`${sim.wsUrl}/ws/btcusdt@kline_1m/btcusdt@kline_1s`);
    try {
      const before = sim.now();
      await c.until(() => c.klines('btcusdt@kline_1m').length >= 3 && c.klines('btcusdt@kline_1s').length >= 3, 5000, 'frames');
      const after = sim.now();
      const events = [...c.klines('btcusdt@kline_1m'), ...c.klines('btcusdt@kline_1s')];
      for (const e of events) {
        expect(e.E).toBeGreaterThanOrEqual(before - 1000);
        expect(e.E).toBeLessThanOrEqual(after);
        if (!e.k.x) expect(e.k.t).toBe(e.k.i === '1s' ? Math.floor(e.E / 1000) * 1000 : bucketOpen(e.E, '1m'));
      }
      // The bucket check above ran on forming events of both intervals, not only on finals.
      expect(['1m', '1s'].map((i) => events.some((e) => e.k.i === i && !e.k.x))).toEqual([true, true]);
    } finally {
      c.close();
    }
  });
});
