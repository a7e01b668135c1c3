import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser, Page } from 'playwright-core';
import type { App } from '../../engine/src/app.ts';
import { openChartPage, startChartApp } from '../helpers/chart-browser.ts';
import { hasChromium } from '../helpers/services.ts';
import { startTestApp } from '../helpers/test-app.ts';

describe.runIf(await hasChromium('browser e2e (replay)'))('the chart of a replay in a real browser', () => {
  const dir = mkdtempSync(join(tmpdir(), 'chart-replay-'));
  let app: App;
  let browser: Browser;
  let page: Page;

  beforeAll(async () => {
    // A short live run on the simulator, recorded, then played back in real time (the simulator's clock ran 20x).
    const file = join(dir, 'run.jsonl.gz');
    const sim = await startTestApp({ source: 'sim', symbols: ['BTCUSDT'], intervals: ['1m'], bufferSize: 800, historyOnConnect: 720, recordFile: file, simOptions: { pushIntervalMs: 100, clockSpeed: 20 } });
    await sim.ready;
    await new Promise((r) => setTimeout(r, 3000));
    await sim.stop();
    app = await startChartApp({ source: 'replay', replayFile: file, replaySpeed: 20 });
    await app.ready;
    ({ browser, page } = await openChartPage());
  }, 120_000);

  afterAll(async () => {
    await browser?.close();
    await app?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('marks the feed as a replay (reproduced: no badge, it looked like the live market), and says when the replay ended instead of stale', async () => {
    await page.goto(`${app.url}/?symbol=BTCUSDT&interval=1m`);
    await page.waitForSelector('[data-testid=replay-badge]', { timeout: 10_000 });
    expect(await page.textContent('[data-testid=replay-badge]')).toBe('replay');
    expect(await page.$('[data-testid=sim-badge]')).toBeNull();
    await app.replay!.done;
    await page.waitForFunction(() => document.querySelector('[data-testid=status]')?.textContent === 'replay ended', undefined, { timeout: 10_000 });
    // It stays so: a finished replay is neither stale nor reconnecting.
    await new Promise((r) => setTimeout(r, 3000));
    expect(await page.textContent('[data-testid=status]')).toBe('replay ended');
  }, 60_000);
});
