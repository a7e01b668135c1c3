import { fc, test } from '@fast-check/vitest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type SimExchange, startSimExchange } from '../../../engine/sim/sim-exchange.ts';
import type { Bar } from '../../../engine/src/domain/bar.ts';
import { parseKlineRows } from '../../../engine/src/sources/binance-raw.ts';
import { BINANCE_INTERVALS, nextOpen, parseTimeZone, resample } from '../../../engine/src/operators/index.ts';
import { runSync } from '../../helpers/marbles.ts';

const SYMBOL = 'BTCUSDT';
// Two whole Monday-aligned weeks (2024-02-26 and 2024-03-04) with a day either side for time zones.
const FROM = Date.UTC(2024, 1, 25);
const TO = Date.UTC(2024, 2, 12);
const CLOCK = Date.UTC(2024, 2, 20, 12);

let sim: SimExchange;
let minutes: Bar[];

/** Every row of [from, to) over REST, 1000 at a time, as the engine's bars. */
async function fetchBars(interval: string, from: number, to: number, timeZone?: string): Promise<Bar[]> {
  const out: Bar[] = [];
  for (let start = from; start < to; ) {
    const q = new URLSearchParams({ symbol: SYMBOL, interval, startTime: String(start), endTime: String(to - 1), limit: '1000' });
    if (timeZone) q.set('timeZone', timeZone);
    const res = await fetch(`${sim.restUrl}/api/v3/klines?${q}`);
    expect(res.status).toBe(200);
    const page = parseKlineRows(await res.json(), sim.now());
    if (page.length === 0) break;
    out.push(...page);
    start = page[page.length - 1].openTime + 1;
  }
  return out;
}

/** The final bar of each resampled bucket that lies wholly inside [FROM, TO). */
function wholeBuckets(bars: Bar[], interval: string, timeZone?: string): Bar[] {
  const tz = parseTimeZone(timeZone);
  const last = new Map<number, Bar>();
  for (const b of bars) last.set(b.openTime, b);
  return [...last.values()].filter((b) => b.openTime >= FROM && nextOpen(b.openTime, interval, tz) <= TO);
}

async function expectSameAsNative(interval: string, timeZone?: string): Promise<void> {
  const resampled = wholeBuckets(runSync(minutes, resample(interval, { sourceInterval: '1m', timeZone })), interval, timeZone);
  const native = wholeBuckets(await fetchBars(interval, FROM, TO, timeZone), interval, timeZone);
  expect(native.length).toBeGreaterThan(0);
  expect(resampled).toEqual(native);
}

describe('resample vs the simulator’s native intervals (REST)', () => {
  beforeAll(async () => {
    sim = await startSimExchange({ symbols: [SYMBOL], clockStart: CLOCK, pushIntervalMs: 60_000, weightLimitPerMinute: 1_000_000 });
    minutes = await fetchBars('1m', FROM, TO);
    expect(minutes.length).toBe((TO - FROM) / 60_000);
    expect(minutes.every((b) => b.closed)).toBe(true);
  });
  afterAll(async () => {
    await sim?.close();
  });

  const coarser = BINANCE_INTERVALS.filter((i) => i !== '1s' && i !== '1m' && i !== '1M');
  it.each(coarser)('1m → %s equals the native %s rows (UTC)', async (interval) => {
    await expectSameAsNative(interval);
  });

  const arbTimeZone = fc.integer({ min: -12 * 60, max: 14 * 60 }).map((m) => {
    const a = Math.abs(m);
    return `${m < 0 ? '-' : '+'}${String(Math.floor(a / 60)).padStart(2, '0')}:${String(a % 60).padStart(2, '0')}`;
  });
  test.prop([fc.constantFrom('1h', '12h', '1d', '3d', '1w'), arbTimeZone], { numRuns: 15 })(
    'equals the native rows for any timeZone offset',
    async (interval, timeZone) => {
      await expectSameAsNative(interval, timeZone);
    },
  );

  it('covers +08:00 days and weeks', async () => {
    await expectSameAsNative('1d', '+08:00');
    await expectSameAsNative('1w', '+08:00');
  });
});
