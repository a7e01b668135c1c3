import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { App } from '../../../engine/src/app.ts';
import { type SimExchange, startSimExchange } from '../../../engine/sim/sim-exchange.ts';
import { startTestApp } from '../../helpers/test-app.ts';
import { EngineClient } from '../../helpers/ws-client.ts';

/**
 * A symbol not trading (a halt, a `BREAK`) is asked after alone every few minutes (here 500 ms), not
 * only at the catalog's hourly read: a configured symbol halted at start was refused to every chart
 * for up to an hour after it traded again (here the hourly read never comes).
 */
describe('a configured symbol that trades again', () => {
  let sim: SimExchange;
  let app: App;
  beforeAll(async () => {
    sim = await startSimExchange({ symbols: ['BTCUSDT', 'ETHUSDT'], pushIntervalMs: 100 });
    sim.market.setStatus('ETHUSDT', 'BREAK');
    app = await startTestApp({ source: 'binance', restUrl: sim.restUrl, wsUrl: sim.wsUrl, symbols: ['BTCUSDT', 'ETHUSDT'], intervals: ['1m'], bufferSize: 300, catalogRefreshMs: 3_600_000, stoppedRecheckMs: 500 });
  }, 60_000);
  afterAll(async () => {
    await app?.stop();
    await sim?.close();
  });

  const ask = async (symbol: string) => {
    const client = new EngineClient(`${app.url.replace('http', 'ws')}/ws/${symbol}?interval=1m`);
    try {
      await client.until((c) => c.closeCode !== undefined || ((c.historical()?.data.length ?? 0) > 0 && c.live().length > 0), 20_000, `an answer for ${symbol}`);
      return client.closeCode === undefined ? 'served' : (client.messages.at(-1) as { code?: string }).code;
    } finally {
      client.close();
    }
  };

  it('is refused while halted, and served within a recheck once it trades again', async () => {
    expect(await ask('ETHUSDT')).toBe('symbol_not_trading');
    sim.market.setStatus('ETHUSDT', 'TRADING');
    const t0 = Date.now();
    let answer: string | undefined;
    while (Date.now() - t0 < 20_000 && (answer = await ask('ETHUSDT')) !== 'served') await new Promise((r) => setTimeout(r, 250));
    expect(answer).toBe('served');
    expect(await ask('BTCUSDT')).toBe('served');
  }, 60_000);
});
