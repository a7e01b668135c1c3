import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser, Page, Route } from 'playwright-core';
import type { App } from '../../engine/src/app.ts';
import { openChartPage, startChartApp, waitForBars } from '../helpers/chart-browser.ts';
import { hasChromium } from '../helpers/services.ts';

/**
 * One `series=` entry the engine refuses (an unknown name, a parameter out of its range) refused the
 * whole socket: no candles, and with an unknown name nothing in the page could turn it off. The page
 * drops such entries once it has the series catalog, and says so; before the catalog answers, a
 * socket refused for one of its series is opened again without it.
 */
describe.runIf(await hasChromium('browser e2e (a refused series in the link)'))('a link with a series the engine refuses', () => {
  let app: App;
  let browser: Browser;
  let page: Page;

  beforeAll(async () => {
    // E2E_PORT: a fixed port where the runner allows only some.
    app = await startChartApp({ symbols: ['BTCUSDT'], intervals: ['1m'], historyOnConnect: 200, port: Number(process.env.E2E_PORT ?? 0) });
    await app.ready;
    ({ browser, page } = await openChartPage());
  });

  afterAll(async () => {
    await browser?.close();
    await app?.stop();
  });

  const seriesParam = () => new URL(page.url()).searchParams.get('series');

  it.each(['nope', 'rsi:period=99999'])('drops %s, says so, and loads the candles', async (bad) => {
    await page.goto(`${app.url}/?symbol=BTCUSDT&interval=1m&series=${encodeURIComponent(bad)},rsi`);
    expect(await waitForBars(page, 50)).toBeGreaterThanOrEqual(50);
    await page.waitForSelector('[data-testid=notice]', { timeout: 10_000 });
    expect(await page.textContent('[data-testid=notice]')).toContain('removed from the view');
    await expect.poll(seriesParam, { timeout: 5000 }).toBe('rsi');
    expect(await page.textContent('[data-testid=status]')).not.toBe('error');
  });

  it('drops a refused series even before the catalog answers', async () => {
    // The catalog (GET /series) never answers: the socket's refusal is all the page learns.
    await page.route(/\/series(\?.*)?$/, (route: Route) => route.fulfill({ status: 503, contentType: 'application/json', body: '{"error":"not now"}' }));
    await page.goto(`${app.url}/?symbol=BTCUSDT&interval=1m&series=nope`);
    expect(await waitForBars(page, 50)).toBeGreaterThanOrEqual(50);
    await page.waitForSelector('[data-testid=notice]', { timeout: 10_000 });
    expect(await page.textContent('[data-testid=notice]')).toContain("unknown series 'nope'");
    await expect.poll(seriesParam, { timeout: 5000 }).toBeNull();
    await page.unroute(/\/series(\?.*)?$/);
  });
});
