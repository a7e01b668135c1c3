import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { App } from '../../engine/src/app.ts';
import { MAX_CHART_BARS } from '../../client/src/chart/data-loader.ts';
import { behindMs } from '../../client/src/feed/engine-socket.ts';
import { openChartPage, recordSockets, startChartApp, waitForBars } from '../helpers/chart-browser.ts';
import { hasChromium } from '../helpers/services.ts';

/**
 * A chart kept open all day: its own bar list stays bounded. KLineChart computes every indicator over
 * its whole list at each update, and a 1s chart gains 86,400 bars a day; the chart holds at most
 * MAX_CHART_BARS, dropping the oldest once the trader is back at the live end. The day's growth is
 * put in at once (bars older than the chart's first, as many as a long session adds).
 */
type Bar = { timestamp: number; open: number; high: number; low: number; close: number; volume: number };
const chartList = (page: Page) => page.evaluate(() => (window as unknown as { __chart: { getDataList(): Bar[] } }).__chart.getDataList().map((b) => b.timestamp));

describe.runIf(await hasChromium('browser e2e (a chart open all day)'))('a chart open all day', () => {
  let app: App;
  let browser: Browser;
  let page: Page;

  beforeAll(async () => {
    app = await startChartApp({ symbols: ['BTCUSDT'], intervals: ['1m'], bufferSize: 300, historyOnConnect: 200, simOptions: { pushIntervalMs: 100, clockSpeed: 60 } });
    await app.ready;
    ({ browser, page } = await openChartPage());
    await recordSockets(page);
  }, 120_000);

  afterAll(async () => {
    await browser?.close();
    await app?.stop();
  });

  it(`holds at most ${MAX_CHART_BARS} bars: the oldest go as live bars come, the newest stay whole (reproduced: the list only grew)`, async () => {
    await page.goto(`${app.url}/?symbol=BTCUSDT&interval=1m&series=rsi`);
    await page.waitForFunction(() => document.querySelector('[data-testid=status]')?.textContent === 'live');
    // Drawn (the chart reloads from the store a frame after live): bars put in before would go with that reload.
    await waitForBars(page);
    const before = await chartList(page);
    // A day's worth of older bars in the chart's own list, as a long session leaves it.
    const grown = await page.evaluate((extra) => {
      const list = (window as unknown as { __chart: { getDataList(): Bar[] } }).__chart.getDataList();
      const first = list[0]!;
      const older: Bar[] = [];
      for (let i = extra; i > 0; i--) older.push({ ...first, timestamp: first.timestamp - i * 60_000 });
      for (let i = 0; i < older.length; i += 10_000) list.splice(i, 0, ...older.slice(i, i + 10_000));
      return list.length;
    }, MAX_CHART_BARS + 5_000);
    expect(grown).toBeGreaterThan(MAX_CHART_BARS + 5_000);
    // The next live bars trim it (the view is at the live end).
    await expect.poll(async () => (await chartList(page)).length, { timeout: 15_000 }).toBeLessThanOrEqual(MAX_CHART_BARS + 5);
    const after = await chartList(page);
    // Sorted, the newest bars whole and still growing live.
    expect(after.every((t, i) => i === 0 || t > after[i - 1]!)).toBe(true);
    expect(after.at(-1)!).toBeGreaterThanOrEqual(before.at(-1)!);
    const recent = after.filter((t) => t >= before[0]!);
    expect(recent.every((t, i) => i === 0 || t - recent[i - 1]! === 60_000)).toBe(true);
    expect(await page.textContent('[data-testid=status]')).toBe('live');
  }, 60_000);

  it('back from a background tab with many new bars, a trader scrolled back still looks at the same bars', async () => {
    await page.goto(`${app.url}/?symbol=BTCUSDT&interval=1m`);
    await page.waitForFunction(() => document.querySelector('[data-testid=status]')?.textContent === 'live');
    type Handle = { getDataList(): Bar[]; getVisibleRange(): { realFrom: number; realTo: number }; scrollToDataIndex(i: number, ms?: number): void };
    const view = () =>
      page.evaluate(() => {
        const chart = (window as unknown as { __chart: Handle }).__chart;
        const list = chart.getDataList();
        const r = chart.getVisibleRange();
        return { from: list[Math.max(0, r.realFrom)]?.timestamp ?? NaN, to: list[Math.min(list.length, r.realTo) - 1]?.timestamp ?? NaN, last: list.at(-1)!.timestamp };
      });
    // Scrolled back to the 60th bar of 200 (once the chart has drawn them).
    await waitForBars(page);
    await page.evaluate(() => (window as unknown as { __chart: Handle }).__chart.scrollToDataIndex(60, 0));
    await page.waitForTimeout(300);
    const before = await view();
    expect(before.to).toBeLessThan(before.last);
    // The frames a background tab skipped: more than RELOAD_AFTER_BARS new bars reach the chart in one.
    await page.evaluate(() => {
      type Candle = { time: number };
      const m = (window as unknown as { __market: { getState(): { candlesByKey: Record<string, Candle[]> }; setState(s: object): void } }).__market;
      const list = m.getState().candlesByKey['BTCUSDT:1m']!;
      const last = list.at(-1)!;
      const added = Array.from({ length: 100 }, (_, i) => ({ ...last, time: last.time + (i + 1) * 60_000, is_closed: true }));
      m.setState({ candlesByKey: { ...m.getState().candlesByKey, 'BTCUSDT:1m': [...list, ...added] } });
    });
    await expect.poll(async () => (await view()).last, { timeout: 5000 }).toBeGreaterThanOrEqual(before.last + 100 * 60_000);
    const after = await view();
    // The same bars in view (reproduced: the live end; then a bar to the left or right).
    expect(after.to).toBe(before.to);
    expect(after.from).toBe(before.from);
  }, 60_000);

  it('a price crossing a decimals threshold back and forth (a stablecoin at 1.0000) resets the chart once, keeping the view (reproduced: a reload at every crossing)', async () => {
    await page.goto(`${app.url}/?symbol=BTCUSDT&interval=1m`);
    await page.waitForFunction(() => document.querySelector('[data-testid=status]')?.textContent === 'live');
    type Handle = { setSymbol(s: object): void; getSymbol(): { pricePrecision: number } };
    await page.evaluate(() => {
      const w = window as unknown as { __chart: Handle; __setSymbols: number };
      const set = w.__chart.setSymbol.bind(w.__chart);
      w.__setSymbols = 0;
      w.__chart.setSymbol = (x: object) => {
        w.__setSymbols++;
        set(x);
      };
    });
    for (let i = 0; i < 10; i++) {
      await page.evaluate((close) => {
        type Candle = { close: number };
        const m = (window as unknown as { __market: { getState(): { candlesByKey: Record<string, Candle[]> }; setState(s: object): void } }).__market;
        const list = m.getState().candlesByKey['BTCUSDT:1m']!;
        m.setState({ candlesByKey: { ...m.getState().candlesByKey, 'BTCUSDT:1m': [...list.slice(0, -1), { ...list.at(-1)!, close }] } });
      }, i % 2 ? 1.0001 : 0.9999);
      await page.waitForTimeout(50);
    }
    expect(await page.evaluate(() => (window as unknown as { __setSymbols: number }).__setSymbols)).toBe(1);
    expect(await page.evaluate(() => (window as unknown as { __chart: Handle }).__chart.getSymbol().pricePrecision)).toBe(5);
  }, 60_000);

  it('a main thread that could not keep up skips ahead: its socket with the late updates is dropped, a new one resumes (reproduced: minutes behind, shown live)', async () => {
    await page.goto(`${app.url}/?symbol=BTCUSDT&interval=1m&series=rsi`);
    await page.waitForFunction(() => document.querySelector('[data-testid=status]')?.textContent === 'live');
    const urls = () => page.evaluate(() => (window as unknown as { __socketUrls: string[] }).__socketUrls);
    await page.waitForTimeout(1000);
    expect(await urls()).toHaveLength(1);
    // The page busy for longer than behindMs: the updates that came meanwhile are handled that late.
    await page.evaluate((ms) => {
      const end = Date.now() + ms;
      while (Date.now() < end);
    }, behindMs('1m') + 2000);
    // The backlog is read once the page is free again, the reopen follows within LAG_REOPEN_JITTER_MS: a
    // loaded machine takes longer over both, as over the resume's round trip.
    await expect.poll(urls, { timeout: 15_000 }).toHaveLength(2);
    expect((await urls())[1]).toMatch(/[?&]epoch=[^&]+&since=\d+/);
    await page.waitForFunction(() => document.querySelector('[data-testid=status]')?.textContent === 'live', undefined, { timeout: 15_000 });
    // Live again, without another drop: a new socket starts without a backlog.
    await page.waitForTimeout(2000);
    expect(await urls()).toHaveLength(2);
  }, 60_000);
});
