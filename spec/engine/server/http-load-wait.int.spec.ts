import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { App } from '../../../engine/src/app.ts';
import { startTestApp } from '../../helpers/test-app.ts';

/**
 * An HTTP read of a cold series waits a bounded time, then is answered 503 `loading` and lets go of
 * the series (it goes on loading for whoever asks next). Requests that waited minutes for loads held
 * back by the REST budget each held a loading series, and together filled MAX_ON_DEMAND_SERIES: a
 * newcomer was refused `series_capacity` (an attacker-style probe).
 */
const WAIT_MS = 1500;
const MAX = 10;

async function read(url: string, timeoutMs: number): Promise<{ status: number; code?: string; retryAfter?: string | null } | 'hung'> {
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) });
    const body = (await res.json()) as { code?: string };
    return { status: res.status, code: body.code, retryAfter: res.headers.get('retry-after') };
  } catch {
    return 'hung';
  }
}

/**
 * The budget is per exchange minute: with more than 10 s of this one left, spend what on-demand
 * starts may use of it (16 of 40: four fifths of the on-demand half; the engine's start did, unless
 * the minute turned since) with warm-up reads of `spare`.
 */
async function spendDemandShare(app: App, spare: string[]): Promise<void> {
  const sim = app.sim!;
  const reserved = async () => Number(/^engine_rest_weight_reserved (\d+)$/m.exec(await (await fetch(`${app.url}/metrics`)).text())?.[1]);
  while (new Date(sim.now()).getUTCSeconds() > 50 || (await reserved()) < 16) {
    if (new Date(sim.now()).getUTCSeconds() > 50) await new Promise((r) => setTimeout(r, 500));
    else await read(`${app.url}/candles/${spare.shift()}/1m?limit=5`, WAIT_MS * 4);
  }
}

describe('HTTP reads of cold series that cannot load yet', () => {
  let app: App;
  beforeAll(async () => {
    // The engine's start (exchangeInfo 20, BTCUSDT 2, time 1) spends more than on-demand series' half of 40.
    app = await startTestApp({ source: 'sim', simOptions: { universeSize: 50, pushIntervalMs: 500 }, symbols: ['BTCUSDT'], intervals: ['1m'], restWeightBudget: 40, onDemandPerMinute: 1_000_000, maxOnDemandSeries: MAX, httpLoadWaitMs: WAIT_MS });
    await app.ready;
  }, 60_000);
  afterAll(async () => {
    await app?.stop();
  });

  it('are answered 503 loading with Retry-After, and hold no capacity from a newcomer', async () => {
    const sim = app.sim!;
    const cold = sim.symbols.filter((s) => s !== 'BTCUSDT');
    await spendDemandShare(app, cold.slice(2 * MAX));
    const first = await Promise.all(cold.slice(0, MAX).map((s) => read(`${app.url}/candles/${s}/1m?limit=5`, WAIT_MS * 4)));
    // Each answered in time: loaded (a new minute's budget came) or still loading, never hung.
    for (const r of first) {
      expect(r).not.toBe('hung');
      if (r !== 'hung' && r.status !== 200) expect(r).toEqual({ status: 503, code: 'loading', retryAfter: '5' });
    }
    expect(first.some((r) => r !== 'hung' && r.code === 'loading')).toBe(true);
    // The cap is full of series nobody holds now: a newcomer's takes the room of one of them.
    const newcomer = await read(`${app.url}/candles/${cold[MAX]}/1m?limit=5`, WAIT_MS * 4);
    expect(newcomer).not.toBe('hung');
    if (newcomer !== 'hung' && newcomer.status !== 200) expect(newcomer.code).toBe('loading');
  }, 45_000);
});

describe('an HTTP read of a cold series whose client goes away', () => {
  let app: App;
  beforeAll(async () => {
    // A long wait: what a client that left held, it held for all of it.
    app = await startTestApp({ source: 'sim', simOptions: { universeSize: 50, pushIntervalMs: 500 }, symbols: ['BTCUSDT'], intervals: ['1m'], restWeightBudget: 40, onDemandPerMinute: 1_000_000, maxOnDemandSeries: MAX, httpLoadWaitMs: 20_000 });
    await app.ready;
  }, 60_000);
  afterAll(async () => {
    await app?.stop();
  });

  it('lets go of the series at once: the cap has room for a newcomer (reproduced: series_capacity while the ones who left still held)', async () => {
    const cold = app.sim!.symbols.filter((s) => s !== 'BTCUSDT');
    await spendDemandShare(app, cold.slice(2 * MAX));
    // MAX clients ask for cold series and go away while they load.
    const left = await Promise.all(cold.slice(0, MAX).map((s) => read(`${app.url}/candles/${s}/1m?limit=5`, 800)));
    expect(left.filter((r) => r === 'hung').length).toBeGreaterThan(0);
    await new Promise((r) => setTimeout(r, 300));
    // A newcomer: loads, or waits for its load; not refused for capacity.
    const newcomer = await read(`${app.url}/candles/${cold[MAX]}/1m?limit=5`, 2000);
    if (newcomer !== 'hung') expect(newcomer.code).not.toBe('series_capacity');
  }, 45_000);
});
