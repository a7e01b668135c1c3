/**
 * The web chart as its own bar list grows (a chart kept open all day: a 1s chart gains 86,400 bars a
 * day): a 1s chart on the simulator in headless Chromium, its list grown to each size with older bars,
 * then 10 s of live updates: frames drawn, the worst frame, long tasks, and the top of a CPU profile.
 *
 *   SIZES=0,20000,50000 npx tsx bench/micro/chart-bars.ts [series, e.g. rsi,ema-cross]
 * (the chart caps its list at MAX_CHART_BARS, so a size above it is trimmed at the next live bar).
 */
import { openChartPage, startChartApp } from '../../spec/helpers/chart-browser.ts';

const app = await startChartApp({ symbols: ['BTCUSDT'], intervals: ['1s', '1m'], simOptions: { pushIntervalMs: 250, clockSpeed: 1 } });
await app.ready;
const { browser, page } = await openChartPage();
const series = process.argv[2] ?? '';
await page.goto(`${app.url}/?symbol=BTCUSDT&interval=1s${series ? `&series=${series}` : ''}`);
await page.waitForFunction(() => document.querySelector('[data-testid=status]')?.textContent === 'live');
await page.waitForTimeout(2000);
const cdp = await page.context().newCDPSession(page);
for (const extra of (process.env.SIZES ?? '0,20000,50000').split(',').map(Number)) {
  await cdp.send('Profiler.enable');
  await cdp.send('Profiler.start');
  const r = await page.evaluate(`(async () => {
    const extra = ${extra};
    const c = window.__chart;
    const list = c.getDataList();
    const first = list[0];
    const have = list.length;
    const add = [];
    for (let i = extra - have; i > 0; i--) add.push({ ...first, timestamp: first.timestamp - i * 1000 });
    for (let k = 0; k < add.length; k += 10000) list.unshift(...add.slice(add.length - k - Math.min(10000, add.length - k), add.length - k));
    const tasks = [];
    const obs = new PerformanceObserver((l) => l.getEntries().forEach((e) => tasks.push(e.duration)));
    obs.observe({ entryTypes: ['longtask'] });
    const t0 = performance.now();
    let frames = 0, worst = 0, last = t0;
    await new Promise((res) => {
      function tick(t) { frames++; worst = Math.max(worst, t - last); last = t; if (t - t0 < 10000) requestAnimationFrame(tick); else res(); }
      requestAnimationFrame(tick);
    });
    obs.disconnect();
    const sorted = list.every((b, i) => i === 0 || b.timestamp > list[i - 1].timestamp);
    return { bars: list.length, sorted, frames, worstFrameMs: Math.round(worst), longTasks: tasks.length, longTaskMs: Math.round(tasks.reduce((a, b) => a + b, 0)) };
  })()`);
  const { profile } = (await cdp.send('Profiler.stop')) as { profile: { nodes: Array<{ id: number; callFrame: { functionName: string; url: string; lineNumber: number }; hitCount?: number }>; samples: number[] } };
  const self = new Map<string, number>();
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  for (const sid of profile.samples) { const n = byId.get(sid)!; const k = `${n.callFrame.functionName || '(anon)'} ${n.callFrame.url.split('/').pop()}:${n.callFrame.lineNumber}`; self.set(k, (self.get(k) ?? 0) + 1); }
  const total = profile.samples.length;
  console.log(JSON.stringify(r));
  console.log([...self.entries()].sort((a, b) => b[1] - a[1]).slice(0, 15).map(([k, v]) => `${(100 * v / total).toFixed(1)}% ${k}`).join('\n'));
}
const cpu = await page.evaluate(() => (performance as unknown as { memory?: { usedJSHeapSize: number } }).memory?.usedJSHeapSize);
console.log('heap', cpu);
await browser.close();
await app.stop();
