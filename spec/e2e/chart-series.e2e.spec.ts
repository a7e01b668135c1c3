import { mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser, Page } from 'playwright-core';
import type { App } from '../../engine/src/app.ts';
import { loadOlderPage, openChartPage, recordConnection, recordSockets, startChartApp, waitForBars, waitForConnection } from '../helpers/chart-browser.ts';
import { hasChromium } from '../helpers/services.ts';

/** Derived series over scrolled-back history and in failure, in a real browser; and the README screenshot. */

const onChart = <T,>(page: Page, fn: string): Promise<T> => page.evaluate(`(() => { const chart = window.__chart; return ${fn}; })()`) as Promise<T>;
const waitLive = (page: Page, timeout = 15_000) => page.waitForFunction(() => document.querySelector('[data-testid=status]')?.textContent === 'live', undefined, { timeout });
type Values = Record<string, number>;
const storePoints = (page: Page, key: string) =>
  page.evaluate((k) => [...((window as unknown as { __market: { getState(): { seriesPoints: Record<string, Map<number, Values>> } } }).__market.getState().seriesPoints[k] ?? new Map()).entries()], key);

describe.runIf(await hasChromium('browser e2e (derived series)'))('derived series on the chart', () => {
  let app: App;
  let browser: Browser;
  let page: Page;

  beforeAll(async () => {
    app = await startChartApp({
      symbols: ['BTCUSDT', 'SOLUSDT'],
      intervals: ['1m', '5m'],
      // A short live window, so scrolling back reaches history the snapshot did not carry.
      historyOnConnect: 200,
      seriesDir: 'spec/fixtures/series-faulty',
    });
    await app.ready;
    ({ browser, page } = await openChartPage());
    await recordSockets(page);
  }, 120_000); // builds the client (vite, synchronous) and starts a browser: past 60 s on a loaded CI machine

  afterAll(async () => {
    await browser?.close();
    await app?.stop();
  });

  it('continues a derived series into scrolled-back history with the values the HTTP endpoint gives, never n/a', async () => {
    await page.goto(`${app.url}/?symbol=BTCUSDT&interval=1m&series=ema-cross`);
    await waitLive(page);
    await expect.poll(() => onChart<number>(page, `chart.getIndicators({ name: 'engine:ema-cross' }).length`), { timeout: 10_000 }).toBe(1);
    // The indicator follows the store's points; the chart's bars come a frame after live.
    await waitForBars(page);
    const live = await onChart<number>(page, `chart.getDataList()[0].timestamp`);
    // Home reaches the oldest loaded bar and loads an older page (candles and series points).
    await loadOlderPage(page, 600);
    await expect
      .poll(() => onChart<number>(page, `chart.getIndicators({ name: 'engine:ema-cross' })[0].result.filter((r) => !r || typeof r.fast !== 'number' || typeof r.slow !== 'number').length`), { timeout: 10_000 })
      .toBe(0);
    const older = await onChart<Array<{ timestamp: number }>>(page, `chart.getDataList().filter((k) => k.timestamp < ${live})`);
    expect(older.length).toBeGreaterThan(300);
    const res = await fetch(`${app.url}/series/ema-cross/BTCUSDT/1m?endTime=${live - 1}&limit=${older.length}`);
    expect(res.status).toBe(200);
    const http = ((await res.json()) as { points: Array<{ time: number; values: Values }> }).points;
    const mine = new Map(await storePoints(page, 'ema-cross|BTCUSDT:1m'));
    expect(http.length).toBe(older.length);
    for (const p of http) {
      expect(mine.get(p.time)?.fast).toBe(p.values.fast);
      expect(mine.get(p.time)?.slow).toBe(p.values.slow);
    }
  });

  it('fetches no points when switching interval (the range of the bars shown before is not the new series\')', async () => {
    // 5m's 200 bars reach 5 times further back than 1m's.
    await page.goto(`${app.url}/?symbol=BTCUSDT&interval=5m&series=ema-cross`);
    await waitLive(page);
    const drawnOver = () => onChart<number>(page, `chart.getIndicators({ name: 'engine:ema-cross' })[0]?.result.filter((r) => r && typeof r.fast === 'number').length ?? 0`);
    await expect.poll(drawnOver, { timeout: 10_000 }).toBeGreaterThan(100);
    const asked: string[] = [];
    const onRequest = (r: { url(): string }) => new URL(r.url()).pathname.startsWith('/series/') && asked.push(r.url());
    page.on('request', onRequest);
    try {
      for (const interval of ['1m', '5m', '1m']) {
        await page.click(`button[data-interval="${interval}"]`);
        await expect.poll(() => onChart<number>(page, `chart.getDataList().length && chart.getDataList()[1].timestamp - chart.getDataList()[0].timestamp`), { timeout: 10_000 }).toBe(interval === '1m' ? 60_000 : 300_000);
        await waitLive(page);
        await expect.poll(drawnOver, { timeout: 10_000 }).toBeGreaterThan(100);
      }
      await page.waitForTimeout(1500);
    } finally {
      page.off('request', onRequest);
    }
    expect(asked).toEqual([]);
  });

  it('keeps the points of the history scrolled back when a reconnect cannot resume', async () => {
    await page.goto(`${app.url}/?symbol=SOLUSDT&interval=5m&series=ema-cross`);
    await waitLive(page);
    const missing = `chart.getIndicators({ name: 'engine:ema-cross' })[0].result.filter((r) => !r || typeof r.fast !== 'number').length`;
    await expect.poll(() => onChart<number>(page, `chart.getIndicators({ name: 'engine:ema-cross' }).length`), { timeout: 10_000 }).toBe(1);
    await loadOlderPage(page, 600);
    await expect.poll(() => onChart<number>(page, missing), { timeout: 10_000 }).toBe(0);
    const bars = await onChart<number>(page, `chart.getDataList().length`);
    const asked: string[] = [];
    const onRequest = (r: { url(): string }) => new URL(r.url()).pathname.startsWith('/series/') && asked.push(r.url());
    page.on('request', onRequest);
    await recordConnection(page);
    try {
      // An epoch the engine does not have (as after Redis lost its data): the socket, closed in the same
      // step (no live message can set the position back), reconnects and gets a `historical`.
      await page.evaluate(() => {
        const w = window as unknown as { __market: { getState(): { positionByKey: object }; setState(s: object): void }; __sockets: WebSocket[] };
        w.__market.setState({ positionByKey: { ...w.__market.getState().positionByKey, 'SOLUSDT:5m': { epoch: 'gone', offset: 1 } } });
        for (const s of w.__sockets) if (s.readyState === WebSocket.OPEN) s.close();
      });
      // Recorded, not polled off the badge: the socket is back within a retry delay (50-100 ms).
      await waitForConnection(page, 'reconnecting', 5000);
      await waitLive(page);
      await page.waitForTimeout(1500);
      expect(await onChart<number>(page, `chart.getDataList().length`)).toBeGreaterThanOrEqual(bars);
      await expect.poll(() => onChart<number>(page, missing), { timeout: 5000 }).toBe(0);
    } finally {
      page.off('request', onRequest);
    }
    // Nothing fetched again: the points of the older bars stayed with them.
    expect(asked).toEqual([]);
  });

  it('shows the error of a derived series that throws on the chart', async () => {
    await page.goto(`${app.url}/?symbol=SOLUSDT&interval=1m&series=boom`);
    await waitLive(page);
    const chip = page.locator('[data-series-error=boom]');
    await expect.poll(() => chip.count(), { timeout: 20_000 }).toBe(1);
    expect(await chip.textContent()).toMatch(/boom.*failed.*boom at \d+/);
    expect(await page.textContent('[data-testid=status]')).toBe('live');
  });

  it('README screenshot: drawings, the countdown, and a derived series over scrolled-back history', async () => {
    await page.goto(`${app.url}/?symbol=BTCUSDT&interval=1m&series=ema-cross&ind=RSI(14)`);
    await waitLive(page);
    await page.evaluate(() => localStorage.clear());
    await loadOlderPage(page, 600);
    await page.keyboard.press('End');
    await page.waitForTimeout(600);
    // Zoomed out about the live bar: the live window and the page scrolled back into, side by side.
    for (let i = 0; i < 5; i++) await page.keyboard.press('Minus');
    await page.click('[data-testid=draw-toggle]');
    await page.waitForSelector('[data-testid=draw-toolbar]');
    const box = (await page.locator('[data-testid=chart]').boundingBox())!;
    const ys = await onChart<{ lo: number; hi: number }>(page, `(() => { const d = chart.getDataList(); const r = chart.getVisibleRange(); const v = d.slice(r.from, r.to); const lo = Math.min(...v.map((k) => k.low)); const hi = Math.max(...v.map((k) => k.high)); const [a, b] = chart.convertToPixel([{ value: lo }, { value: hi }]); return { lo: a.y, hi: b.y }; })()`);
    // Inside the candle pane only: a first click in another pane binds the drawing to that pane.
    const pane = (await onChart<{ height: number }>(page, `chart.getSize('candle_pane')`)).height;
    const [top, bottom] = [Math.max(20, ys.hi), Math.min(pane - 20, ys.lo)];
    const y = (f: number) => box.y + top + (bottom - top) * f;
    const draw = async (tool: string, points: Array<[number, number]>) => {
      await page.waitForTimeout(700);
      await page.click(`[data-tool=${tool}]`);
      for (const [i, [x, fy]] of points.entries()) {
        if (i) await page.waitForTimeout(600);
        await page.mouse.move(box.x + x - 15, y(fy), { steps: 3 });
        await page.mouse.click(box.x + x, y(fy));
      }
    };
    await draw('segment', [[180, 0.9], [760, 0.15]]);
    await draw('fibonacciLine', [[820, 0.05], [1060, 0.95]]);
    page.once('dialog', (d) => void d.accept('breakout'));
    await draw('textNote', [[560, 0.25]]);
    await expect.poll(async () => (await onChart<unknown[]>(page, `chart.getOverlays({ groupId: 'drawings' }).filter((o) => o.currentStep === -1)`)).length).toBe(3);
    // Deselect (a selected drawing marks the price axis) and take the pointer off the chart (no crosshair).
    await page.waitForTimeout(700);
    await page.mouse.click(box.x + 120, y(0.98));
    await page.mouse.move(box.x + box.width / 2, 5);
    await page.waitForTimeout(800);
    // The README's picture is rewritten only when asked (UPDATE_SCREENSHOT=1), so a test run leaves the clone clean.
    const shot = process.env.UPDATE_SCREENSHOT === '1' ? 'docs/screenshot-chart.png' : join(tmpdir(), `screenshot-chart-${process.pid}.png`);
    mkdirSync(dirname(shot), { recursive: true });
    await page.screenshot({ path: shot });
  });
});
