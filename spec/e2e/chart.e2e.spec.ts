import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser, Page } from 'playwright-core';
import type { App } from '../../engine/src/app.ts';
import { dragTowardsOlder, openChartPage, recordConnection, startChartApp, waitForConnection } from '../helpers/chart-browser.ts';
import { hasChromium } from '../helpers/services.ts';

interface StoreCandle {
  time: number;
  close: number;
}

/** Pixels in the chart's canvases that have KLineChart's candle colours (up green / down red). */
async function candlePixels(page: Page): Promise<number> {
  return page.evaluate(() => {
    let n = 0;
    for (const canvas of Array.from(document.querySelectorAll('canvas'))) {
      const ctx = canvas.getContext('2d');
      if (!ctx || !canvas.width || !canvas.height) continue;
      const d = ctx.getImageData(0, 0, canvas.width, canvas.height).data;
      for (let i = 0; i < d.length; i += 4) {
        const [r, g, b, a] = [d[i]!, d[i + 1]!, d[i + 2]!, d[i + 3]!];
        if (a < 200) continue;
        const green = g > 150 && r < 90 && b > 100 && b < 170;
        const red = r > 200 && g < 80 && b > 60 && b < 120;
        if (green || red) n++;
      }
    }
    return n;
  });
}

const series = (page: Page, key: string) =>
  page.evaluate((k) => ((window as unknown as { __market: { getState(): { candlesByKey: Record<string, StoreCandle[]> } } }).__market.getState().candlesByKey[k] ?? []).map((c) => ({ time: c.time, close: c.close })), key);

function expectWhole(list: StoreCandle[], step: number) {
  expect(list.length).toBeGreaterThan(100);
  for (let i = 1; i < list.length; i++) expect(list[i]!.time - list[i - 1]!.time).toBe(step);
}

describe.runIf(await hasChromium('browser e2e'))('the live chart in a real browser', () => {
  let app: App;
  let browser: Browser;
  let page: Page;

  beforeAll(async () => {
    app = await startChartApp({
      symbols: ['BTCUSDT', 'ETHUSDT', 'SOLUSDT'],
      intervals: ['1m', '5m', '10m', '1h'],
    });
    await app.ready;
    ({ browser, page } = await openChartPage());
  }, 120_000); // builds the client (vite, synchronous) and starts a browser: past 60 s on a loaded CI machine

  afterAll(async () => {
    await browser?.close();
    await app?.stop();
  });

  it('draws candles and the last price moves, on a feed it marks as simulated', async () => {
    await page.goto(`${app.url}/?symbol=BTCUSDT&interval=1m`);
    await page.waitForFunction(() => document.querySelector('[data-testid=status]')?.textContent === 'live');
    await page.waitForFunction(() => document.querySelectorAll('canvas').length > 0);
    await expect.poll(() => candlePixels(page), { timeout: 10_000 }).toBeGreaterThan(500);
    expect(await page.textContent('[data-testid=sim-badge]')).toBe('simulated feed');
    const first = await page.textContent('[data-testid=last-price]');
    await expect.poll(() => page.textContent('[data-testid=last-price]'), { timeout: 10_000 }).not.toBe(first);
    expect(await page.title()).toMatch(/BTCUSDT · 1m/);
  });

  it('follows a symbol switch (searchable picker) and an interval switch, keeping the view in the URL', async () => {
    await page.fill('[data-testid=symbol-search]', 'eth');
    await page.click('[role=option][data-symbol=ETHUSDT]');
    await expect.poll(() => page.textContent('[data-testid=symbol]')).toBe('ETHUSDT');
    await expect.poll(async () => (await series(page, 'ETHUSDT:1m')).length, { timeout: 10_000 }).toBeGreaterThan(700);
    await page.click('button[data-interval="5m"]');
    await expect.poll(async () => (await series(page, 'ETHUSDT:5m')).length, { timeout: 10_000 }).toBeGreaterThan(700);
    expect(new URL(page.url()).searchParams.get('symbol')).toBe('ETHUSDT');
    expect(new URL(page.url()).searchParams.get('interval')).toBe('5m');
    // The price moves every second: compare the label with the store's newest close read at the same moment.
    await expect
      .poll(() =>
        page.evaluate(() => {
          const list = (window as unknown as { __market: { getState(): { candlesByKey: Record<string, StoreCandle[]> } } }).__market.getState().candlesByKey['ETHUSDT:5m'] ?? [];
          return document.querySelector('[data-testid=last-price]')?.textContent === list.at(-1)?.close.toLocaleString('en-US', { minimumFractionDigits: 2, maximumFractionDigits: 2 });
        }),
        { timeout: 10_000 },
      )
      .toBe(true);
    await expect.poll(() => candlePixels(page), { timeout: 10_000 }).toBeGreaterThan(500);
    // The view survives a reload.
    await page.reload();
    await expect.poll(() => page.textContent('[data-testid=symbol]')).toBe('ETHUSDT');
    await page.waitForFunction(() => document.querySelector('[data-testid=status]')?.textContent === 'live');
  });

  it('says reconnecting when the exchange stream is cut, then live again with no duplicated candle', async () => {
    await page.click('button[data-interval="1m"]');
    await page.waitForFunction(() => document.querySelector('[data-testid=status]')?.textContent === 'live');
    app.sim!.faults.refuseConnections(4000);
    app.sim!.faults.dropConnections();
    await page.waitForFunction(() => document.querySelector('[data-testid=status]')?.textContent === 'reconnecting', undefined, { timeout: 5000 });
    await page.waitForFunction(() => document.querySelector('[data-testid=status]')?.textContent === 'live', undefined, { timeout: 20_000 });
    // Let a few candles close after the outage, then the browser's series is whole.
    await page.waitForTimeout(4000);
    expectWhole(await series(page, 'ETHUSDT:1m'), 60_000);
  });

  it('reconnects its own socket when the engine drops it and resyncs from a fresh snapshot', async () => {
    // The socket is back within 50-100 ms: recorded, not polled off the badge.
    await recordConnection(page);
    app.dropClients(1012);
    await waitForConnection(page, 'reconnecting', 5000);
    await page.waitForFunction(() => document.querySelector('[data-testid=status]')?.textContent === 'live', undefined, { timeout: 15_000 });
    expectWhole(await series(page, 'ETHUSDT:1m'), 60_000);
    await expect.poll(() => candlePixels(page), { timeout: 10_000 }).toBeGreaterThan(500);
  });

  it('draws a derived series computed by the engine, live, and candles of a custom interval', async () => {
    await page.goto(`${app.url}/?symbol=SOLUSDT&interval=1m`);
    await page.waitForFunction(() => document.querySelector('[data-testid=status]')?.textContent === 'live');
    await page.click('[data-testid=indicators-menu]');
    await page.click('button[data-series=rsi]');
    await page.keyboard.press('Escape');
    const points = () => page.evaluate(() => (window as unknown as { __market: { getState(): { seriesPoints: Record<string, Map<number, unknown>> } } }).__market.getState().seriesPoints['rsi|SOLUSDT:1m']?.size ?? 0);
    await expect.poll(points, { timeout: 10_000 }).toBeGreaterThan(600);
    const drawn = () => page.evaluate(() => (window as unknown as { __chart: { getIndicators(f: object): unknown[] } }).__chart.getIndicators({ name: 'engine:rsi' }).length);
    await expect.poll(drawn, { timeout: 10_000 }).toBe(1);
    const before = await points();
    await expect.poll(points, { timeout: 10_000 }).toBeGreaterThan(before);
    expect(new URL(page.url()).searchParams.get('series')).toBe('rsi');
    await page.click('button[data-interval="10m"]');
    await expect.poll(async () => (await series(page, 'SOLUSDT:10m')).length, { timeout: 10_000 }).toBeGreaterThan(700);
    expectWhole(await series(page, 'SOLUSDT:10m'), 600_000);
    await expect.poll(() => candlePixels(page), { timeout: 10_000 }).toBeGreaterThan(500);
  });

  it('keeps drawing a derived series across an interval switch and a dropped socket, with values up to the last candle', async () => {
    type Ind = { name: string; result: Array<Record<string, number | null> | null> };
    type Chart = { getIndicators(f: object): Ind[]; getDataList(): Array<{ timestamp: number }> };
    // The engine:rsi indicator's computed values, and the candles they align with.
    const drawn = () =>
      page.evaluate(() => {
        const chart = (window as unknown as { __chart: Chart }).__chart;
        const ind = chart.getIndicators({ name: 'engine:rsi' })[0];
        const values = (ind?.result ?? []).map((r) => (r ? (Object.values(r).find((v) => typeof v === 'number') ?? null) : null));
        return { count: chart.getIndicators({ name: 'engine:rsi' }).length, values, candles: chart.getDataList().length };
      });
    const points = (key: string) => page.evaluate((k) => (window as unknown as { __market: { getState(): { seriesPoints: Record<string, Map<number, unknown>> } } }).__market.getState().seriesPoints[k]?.size ?? 0, key);
    // Still on SOLUSDT 10m with rsi on (the previous test): the series follows an interval switch.
    await expect.poll(() => points('rsi|SOLUSDT:10m'), { timeout: 10_000 }).toBeGreaterThan(600);
    await page.click('button[data-interval="1m"]');
    await expect.poll(() => points('rsi|SOLUSDT:1m'), { timeout: 10_000 }).toBeGreaterThan(600);
    await expect.poll(async () => (await drawn()).count, { timeout: 10_000 }).toBe(1);
    await recordConnection(page);
    app.dropClients(1012);
    await waitForConnection(page, 'reconnecting', 5000);
    await page.waitForFunction(() => document.querySelector('[data-testid=status]')?.textContent === 'live', undefined, { timeout: 15_000 });
    // The reconnected socket asks for the series again: new values arrive, and the one indicator has
    // a value for each of the newest candles.
    const newest = () => page.evaluate(() => Math.max(...(window as unknown as { __market: { getState(): { seriesPoints: Record<string, Map<number, unknown>> } } }).__market.getState().seriesPoints['rsi|SOLUSDT:1m']!.keys()));
    const before = await newest();
    await expect.poll(newest, { timeout: 10_000 }).toBeGreaterThan(before);
    await expect
      .poll(async () => {
        const d = await drawn();
        return d.count === 1 && d.values.length === d.candles && d.values.slice(-5).every((v) => v !== null && v >= 0 && v <= 100);
      }, { timeout: 10_000 })
      .toBe(true);
    expect(new URL(page.url()).searchParams.get('series')).toBe('rsi');
  });

  it('loads older candles page by page when scrolled left; indicator and theme toggles follow', async () => {
    await page.goto(`${app.url}/?symbol=BTCUSDT&interval=1m`);
    await page.waitForFunction(() => document.querySelector('[data-testid=status]')?.textContent === 'live');
    type ChartHandle = { getDataList(): Array<{ timestamp: number }>; getIndicators(f: object): unknown[] };
    const bars = () => page.evaluate(() => (window as unknown as { __chart: ChartHandle }).__chart.getDataList().map((k) => k.timestamp));
    await expect.poll(async () => (await bars()).length, { timeout: 15_000 }).toBeGreaterThan(700);
    const before = await bars();
    // Drag the chart to the right (towards older candles) until the left edge asks the engine for a page.
    await expect
      .poll(
        async () => {
          await dragTowardsOlder(page);
          return (await bars())[0]!;
        },
        // As loadOlderPage: the page may be answered with Retry-After (waited out by the client, up to 10 s).
        { timeout: 30_000 },
      )
      .toBeLessThan(before[0]!);
    const after = await bars();
    for (let i = 1; i < after.length; i++) expect(after[i]! - after[i - 1]!).toBe(60_000);

    const count = (name: string) => page.evaluate((n) => (window as unknown as { __chart: ChartHandle }).__chart.getIndicators({ name: n }).length, name);
    await page.click('[data-testid=indicators-menu]');
    await page.click('button[data-indicator=MACD]');
    await page.click('button[data-indicator=BOLL]');
    expect([await count('MACD'), await count('BOLL')]).toEqual([1, 1]);
    expect(new URL(page.url()).searchParams.get('ind')).toBe('MACD,BOLL');
    await page.click('button[data-indicator=MACD]');
    expect(await count('MACD')).toBe(0);
    await page.keyboard.press('Escape');

    await page.click('button[aria-label="toggle theme"]');
    expect(await page.evaluate(() => document.documentElement.dataset.theme)).toBe('light');
    expect(new URL(page.url()).searchParams.get('theme')).toBe('light');
  });

  it('shows a clear error for an unknown symbol', async () => {
    await page.goto(`${app.url}/?symbol=NOPE`);
    await page.waitForSelector('[data-testid=error]');
    expect(await page.textContent('[data-testid=error]')).toMatch(/unknown symbol 'NOPE'/);
    expect(await page.textContent('[data-testid=status]')).toBe('error');
  });
});
