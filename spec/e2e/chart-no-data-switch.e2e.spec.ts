import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser, Page, WebSocketRoute } from 'playwright-core';
import type { App } from '../../engine/src/app.ts';
import { openChartPage, startChartApp } from '../helpers/chart-browser.ts';
import { hasChromium } from '../helpers/services.ts';

/**
 * A switch that gets no data must not draw the previous series under the new name. KLineChart keeps
 * its bars until the loader answers `init`, and the loader waited for the new series' snapshot without
 * limit: a switch the engine refused, or made while it was down, showed BTCUSDT 1m's candles titled
 * ETHUSDT (or 5m), with no overlay (it went with `connecting`). Here the browser's sockets for the new
 * series are answered by the test: refused (error, close 4000) or closed as by an engine that is gone.
 */
type ChartView = { ticker: string; period: string; bars: number; overlay: string | null };
const view = (page: Page) =>
  page.evaluate(() => {
    const c = (window as unknown as { __chart: { getSymbol(): { ticker: string }; getPeriod(): { span: number; type: string }; getDataList(): unknown[] } }).__chart;
    const p = c.getPeriod();
    return { ticker: c.getSymbol().ticker, period: `${p.span}${p.type}`, bars: c.getDataList().length, overlay: document.querySelector('[data-testid=chart-loading]')?.textContent ?? null };
  }) as Promise<ChartView>;

describe.runIf(await hasChromium('browser e2e (a switch that gets no data)'))('a switch that gets no data', () => {
  let app: App;
  let browser: Browser;
  let page: Page;
  /** How the test answers the browser's sockets: `refuse` and `down` for the series they name, the engine for the rest. */
  let answer: (url: string) => 'refuse' | 'down' | 'engine' = () => 'engine';

  beforeAll(async () => {
    app = await startChartApp({ symbols: ['BTCUSDT', 'ETHUSDT'], intervals: ['1m', '5m'], historyOnConnect: 200 });
    await app.ready;
    ({ browser, page } = await openChartPage());
    await page.routeWebSocket(/\/ws\//, (ws: WebSocketRoute) => {
      const how = answer(ws.url());
      if (how === 'engine') return void ws.connectToServer();
      if (how === 'refuse') ws.send(JSON.stringify({ type: 'error', message: 'refused by the test' }));
      void ws.close({ code: how === 'refuse' ? 4000 : 1012, reason: how });
    });
    await page.goto(`${app.url}/?symbol=BTCUSDT&interval=1m`);
    await page.waitForFunction(() => document.querySelector('[data-testid=status]')?.textContent === 'live');
    await page.waitForFunction(() => (window as unknown as { __chart?: { getDataList(): unknown[] } }).__chart!.getDataList().length > 100);
  }, 120_000); // builds the client (vite, synchronous) and starts a browser: past 60 s on a loaded CI machine

  afterAll(async () => {
    await browser?.close();
    await app?.stop();
  });

  it("shows none of BTCUSDT's candles under ETHUSDT when the engine refuses ETHUSDT, and says there is no data (reproduced: BTCUSDT's drawn as ETHUSDT)", async () => {
    answer = (url) => (url.includes('/ws/ETHUSDT') ? 'refuse' : 'engine');
    await page.fill('[data-testid=symbol-search]', 'eth');
    await page.click('[role=option][data-symbol=ETHUSDT]');
    await expect.poll(() => page.evaluate(() => (window as unknown as { __market: { getState(): { connection: string } } }).__market.getState().connection), { timeout: 10_000 }).toBe('error');
    // A few frames more: the chart has settled on what it shows for the refused series.
    await page.waitForTimeout(500);
    expect(await view(page)).toEqual({ ticker: 'ETHUSDT', period: '1minute', bars: 0, overlay: 'No data for ETHUSDT · 1m' });
  });

  it('shows no candles of another series while the engine is down for a switch, then the new ones once it is back (reproduced: 1m candles drawn as 5m)', async () => {
    answer = (url) => (url.includes('/ws/ETHUSDT') ? 'down' : 'engine');
    await page.click('[data-testid=symbol-search]');
    await page.fill('[data-testid=symbol-search]', 'btc');
    await page.click('[role=option][data-symbol=BTCUSDT]');
    await expect.poll(async () => (await view(page)).bars, { timeout: 10_000 }).toBeGreaterThan(100);
    await expect.poll(async () => (await view(page)).overlay, { timeout: 10_000 }).toBeNull();
    // ETHUSDT 1m's candles from the refused ask are none; BTCUSDT 5m is the engine's, ETHUSDT 5m down.
    await page.fill('[data-testid=symbol-search]', 'eth');
    await page.click('[role=option][data-symbol=ETHUSDT]');
    await page.click('button[data-interval="5m"]');
    await expect.poll(async () => (await view(page)).overlay, { timeout: 10_000 }).toBe('Waiting for the engine: ETHUSDT · 5m…');
    await page.waitForTimeout(2000);
    expect(await view(page)).toEqual({ ticker: 'ETHUSDT', period: '5minute', bars: 0, overlay: 'Waiting for the engine: ETHUSDT · 5m…' });
    // The engine is back: the next retry is served, the chart loads ETHUSDT 5m.
    answer = () => 'engine';
    await expect.poll(async () => (await view(page)).bars, { timeout: 15_000 }).toBeGreaterThan(100);
    await expect.poll(async () => (await view(page)).overlay, { timeout: 10_000 }).toBeNull();
    const spacing = await page.evaluate(() => {
      const list = (window as unknown as { __chart: { getDataList(): Array<{ timestamp: number }> } }).__chart.getDataList();
      return list.at(-1)!.timestamp - list.at(-2)!.timestamp;
    });
    expect(spacing).toBe(5 * 60_000);
  });
});
