import type { App, AppOptions } from '../../engine/src/app.ts';
import { createLogger } from '../../engine/src/log.ts';
import { type SimExchange, startSimExchange } from '../../engine/sim/sim-exchange.ts';
import { startTestApp } from './test-app.ts';

/**
 * An engine serving the derived series of `seriesDir` on BTCUSDT 1m, fed by a simulator that pushes
 * every 50 ms at 300× (a live bar every few seconds), its warnings kept in `logs`; `options` win.
 */
export async function startSeriesApp(seriesDir: string, logs: string[], options: Partial<AppOptions> = {}): Promise<{ sim: SimExchange; app: App }> {
  const sim = await startSimExchange({ symbols: ['BTCUSDT'], pushIntervalMs: 50, clockSpeed: 300 });
  const app = await startTestApp({
    source: 'binance',
    restUrl: sim.restUrl,
    wsUrl: sim.wsUrl,
    symbols: ['BTCUSDT'],
    intervals: ['1m'],
    bufferSize: 300,
    historyOnConnect: 200,
    seriesDir,
    log: createLogger('warn', 'test', (line) => logs.push(line)),
    ...options,
  });
  await app.ready;
  return { sim, app };
}
