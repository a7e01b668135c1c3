import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Browser, chromium, type Page } from 'playwright-core';
import type { App, AppOptions } from '../../engine/src/app.ts';
import { CHROMIUM_PATH } from './services.ts';
import { startTestApp } from './test-app.ts';

/**
 * Builds this checkout's client (always, never a stale build) into a directory of its own and
 * returns it; the caller removes it. Not dist/client: each browser suite builds, and vite empties its
 * outDir first, so a suite building there took the files from under another one serving them.
 */
export function buildClient(): string {
  const outDir = mkdtempSync(join(tmpdir(), 'chart-client-'));
  try {
    execFileSync(process.execPath, ['node_modules/vite/bin/vite.js', 'build', '--logLevel', 'warn', '--outDir', outDir], { stdio: 'inherit' });
  } catch (e) {
    rmSync(outDir, { recursive: true, force: true });
    throw e;
  }
  return outDir;
}

/**
 * Builds this checkout's client and starts a simulated engine serving
 * it: one simulated minute every 3 s, pushed 4 times a second. The spec's options win; it awaits
 * `app.ready` itself (the app is assigned first, so afterAll can stop it). The build is removed once
 * the engine has started: it reads the client into memory at start (static-files.ts).
 */
export async function startChartApp(options: AppOptions): Promise<App> {
  const clientDir = buildClient();
  try {
    return await startTestApp({ source: 'sim', bufferSize: 800, historyOnConnect: 720, clientDir, simOptions: { pushIntervalMs: 250, clockSpeed: 20 }, ...options });
  } finally {
    rmSync(clientDir, { recursive: true, force: true });
  }
}

/** Headless Chromium (Debian's) and one 1280x720 page. */
export async function openChartPage(): Promise<{ browser: Browser; page: Page }> {
  const browser = await chromium.launch({ executablePath: CHROMIUM_PATH, args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'] });
  return { browser, page: await browser.newPage({ viewport: { width: 1280, height: 720 } }) };
}

/** Drags the chart once to the right, towards older candles (at its left edge the chart asks the engine for an older page). */
export async function dragTowardsOlder(page: Page): Promise<void> {
  const box = (await page.locator('[data-testid=chart]').boundingBox())!;
  await page.mouse.move(box.x + 100, box.y + box.height / 3);
  await page.mouse.down();
  await page.mouse.move(box.x + box.width - 100, box.y + box.height / 3, { steps: 5 });
  await page.mouse.up();
}

/**
 * Call before `goto`: the page keeps its WebSockets not yet closed in `window.__sockets` (for a test
 * that closes them from the browser's side) and the URL of every one it opened in `window.__socketUrls`.
 */
export async function recordSockets(page: Page): Promise<void> {
  await page.addInitScript(() => {
    const w = window as unknown as { __sockets: WebSocket[]; __socketUrls: string[] };
    const Native = WebSocket;
    w.__sockets = [];
    w.__socketUrls = [];
    window.WebSocket = class extends Native {
      constructor(url: string | URL, protocols?: string | string[]) {
        super(url, protocols);
        w.__sockets = [...w.__sockets.filter((s) => s.readyState !== Native.CLOSED), this];
        w.__socketUrls.push(String(url));
      }
    };
  });
}

/**
 * Resolves once the chart holds more than `bars` bars (by default: any), with how many it holds.
 * `live` on the badge is not enough: the store has the snapshot then, but the chart reloads from it
 * at the next animation frame, which under load comes later (CI: a key pressed on an empty chart).
 * Wait for this before reading the chart's bars or acting on them.
 */
export async function waitForBars(page: Page, bars = 0, timeoutMs = 15_000): Promise<number> {
  const handle = await page.waitForFunction(
    (n) => {
      const length = (window as unknown as { __chart?: { getDataList(): unknown[] } }).__chart?.getDataList().length ?? 0;
      return length > n ? length : 0;
    },
    bars,
    { timeout: timeoutMs },
  );
  return (await handle.jsonValue()) as number;
}

type ConnectionLog = { __connections: string[]; __market: { getState(): { connection: string }; subscribe(f: (s: { connection: string }) => void): () => void } };

/**
 * Records the page's socket states from now on (`window.__connections`, each change once). Call it
 * before an action that drops the socket, then `waitForConnection`: a state that lasts a retry delay
 * (`reconnecting` after a dropped socket: 50-100 ms) can come and go between two polls of the badge
 * on a loaded machine. A navigation forgets it.
 */
export async function recordConnection(page: Page): Promise<void> {
  await page.evaluate(() => {
    const w = window as unknown as ConnectionLog;
    w.__connections = [w.__market.getState().connection];
    w.__market.subscribe((s) => {
      if (w.__connections.at(-1) !== s.connection) w.__connections.push(s.connection);
    });
  });
}

/** Resolves once the socket went through `state` since `recordConnection` (however briefly). */
export async function waitForConnection(page: Page, state: string, timeoutMs = 15_000): Promise<void> {
  await page.waitForFunction((s) => (window as unknown as ConnectionLog).__connections.includes(s), state, { timeout: timeoutMs });
}

/**
 * Presses Home until the chart holds more than `bars` bars (an older page loaded). Home only once
 * the chart has bars: a press before the first page is drawn scrolls nothing, and under load `live`
 * can show a frame before the chart draws (the race that failed CI). Pressed again while the oldest
 * bar is out of view; the wait covers a history call the engine answers with Retry-After.
 */
export async function loadOlderPage(page: Page, bars: number, timeoutMs = 30_000): Promise<number> {
  const on = <T,>(fn: string) => page.evaluate(`(() => { const chart = window.__chart; return ${fn}; })()`) as Promise<T>;
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const length = await on<number>(`chart.getDataList().length`);
    if (length > bars) return length;
    if (Date.now() > deadline) throw new Error(`the chart held ${length} bars, not more than ${bars}, ${timeoutMs} ms after Home`);
    if (length > 0 && (await on<number>(`Math.floor(chart.getVisibleRange().realFrom)`)) > 0) await page.keyboard.press('Home');
    await page.waitForTimeout(250);
  }
}
