import { describe, expect, it } from 'vitest';
import { startSimExchange } from '../../../engine/sim/sim-exchange.ts';
import { createLogger } from '../../../engine/src/log.ts';
import { startTestApp } from '../../helpers/test-app.ts';
import { until } from '../../helpers/until.ts';

describe('an engine stopped before its configured series are live', () => {
  it('does not say they are live (reproduced: "configured series live: 1 native" at the stop)', async () => {
    const sim = await startSimExchange({ symbols: ['BTCUSDT'], pushIntervalMs: 100 });
    const lines: string[] = [];
    try {
      // The klines never answer: the bootstrap cannot finish.
      sim.faults.stallRest(['/api/v3/klines']);
      const app = await startTestApp({ source: 'binance', restUrl: sim.restUrl, wsUrl: sim.wsUrl, symbols: ['BTCUSDT'], intervals: ['1m'], bufferSize: 100, log: createLogger('info', 'test', (l) => lines.push(l)) });
      await until(() => sim.faults.stalledRequests().includes('/api/v3/klines'), 10_000, 'the bootstrap asking');
      await app.stop();
      await new Promise((r) => setTimeout(r, 50));
      expect(lines.some((l) => /engine stopped/.test(l))).toBe(true);
      expect(lines.filter((l) => /configured series live/.test(l))).toEqual([]);
    } finally {
      sim.faults.restoreRest();
      await sim.close();
    }
  });
});
