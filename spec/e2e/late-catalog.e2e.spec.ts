import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser, Page, Route } from 'playwright-core';
import type { App } from '../../engine/src/app.ts';
import { openChartPage, startChartApp } from '../helpers/chart-browser.ts';
import { hasChromium } from '../helpers/services.ts';

/**
 * The derived series' catalog says which series draw over the candles (ema-cross) and which in a pane
 * of their own. Fetched once, a failure at page load left an overlay in a pane of its own all day; it
 * is asked again until it answers (until-fetched.ts), and the series drawn before it came are drawn
 * again where it says. Here the page's first two asks for the catalog fail.
 */
const onChart = <T,>(page: Page, fn: string): Promise<T> => page.evaluate(`(() => { const chart = window.__chart; return ${fn}; })()`) as Promise<T>;
const emaPanes = (page: Page) => onChart<string[]>(page, `chart.getIndicators({ name: 'engine:ema-cross' }).map((i) => i.paneId)`);

describe.runIf(await hasChromium('browser e2e (a late series catalog)'))('a derived series catalog that answers late', () => {
  let app: App;
  let browser: Browser;
  let page: Page;

  beforeAll(async () => {
    app = await startChartApp({ symbols: ['BTCUSDT'], intervals: ['1m'], historyOnConnect: 200 });
    await app.ready;
    ({ browser, page } = await openChartPage());
  }, 120_000); // builds the client (vite, synchronous) and starts a browser: past 60 s on a loaded CI machine

  afterAll(async () => {
    await browser?.close();
    await app?.stop();
  });

  it('draws an overlay series in its own pane meanwhile, then over the candles once the catalog answers', async () => {
    let asked = 0;
    let failing = true;
    // Only the catalog (GET /series), not a series' points (/series/<name>/…).
    await page.route(/\/series(\?.*)?$/, (route: Route) => {
      asked++;
      return failing ? route.fulfill({ status: 503, contentType: 'application/json', body: '{"error":"not now"}' }) : route.continue();
    });
    await page.goto(`${app.url}/?symbol=BTCUSDT&interval=1m&series=ema-cross`);
    await expect.poll(() => emaPanes(page), { timeout: 15_000 }).toHaveLength(1);
    // Drawn before the catalog said where: a pane of its own.
    expect((await emaPanes(page))[0]).not.toBe('candle_pane');
    await expect.poll(() => asked, { timeout: 10_000 }).toBeGreaterThanOrEqual(2);
    failing = false;
    // The next ask (4 s after the second failure) answers: drawn again over the candles, once.
    await expect.poll(() => emaPanes(page), { timeout: 20_000 }).toEqual(['candle_pane']);
    expect(await onChart<number>(page, `chart.getIndicators({ name: 'engine:ema-cross' })[0].result.filter((r) => r && typeof r.fast === 'number').length`)).toBeGreaterThan(0);
  });
});
