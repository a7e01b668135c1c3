import { fc, test } from '@fast-check/vitest';
import { afterAll, beforeAll, describe, expect } from 'vitest';
import { type SimExchange, startSimExchange } from '../../../engine/sim/sim-exchange.ts';
import { bucketOpen, nextOpen, parseTimeZone } from '../../../engine/src/domain/interval.ts';

type Row = [number, string, string, string, string, string, number, string, number, string, string, string];

const LISTED = Date.UTC(2019, 0, 1);
// Frozen clock: sim time moves a millisecond per 1000 s of real time.
const CLOCK = Date.UTC(2024, 5, 12, 9, 41, 27);
let sim: SimExchange;

async function klines(params: Record<string, string | number>): Promise<Row[]> {
  const q = new URLSearchParams(Object.entries(params).map(([k, v]) => [k, String(v)]));
  const res = await fetch(`${sim.restUrl}/api/v3/klines?${q}`);
  const body = (await res.json()) as unknown;
  expect(res.status, JSON.stringify(body)).toBe(200);
  return body as Row[];
}

/** Every 1m row with open time in [from, to], 1000 at a time. */
async function minutes(symbol: string, from: number, to: number): Promise<Row[]> {
  const out: Row[] = [];
  for (let start = from; start <= to; ) {
    const page = await klines({ symbol, interval: '1m', startTime: start, endTime: to, limit: 1000 });
    if (page.length === 0) break;
    out.push(...page);
    start = page[page.length - 1]![0] + 1;
  }
  return out;
}

/** The model, dumber than the system: decimal strings summed in integer units via BigInt. */
const units = (s: string) => BigInt(s.replace('.', ''));
function aggregate(rows: Row[]) {
  const price = (i: number) => rows.map((r) => r[i] as string);
  const byValue = (a: string, b: string) => (units(a) < units(b) ? -1 : units(a) > units(b) ? 1 : 0);
  const sum = (i: number) => rows.reduce((acc, r) => acc + units(r[i] as string), 0n);
  return {
    open: rows[0]![1],
    high: price(2).sort(byValue).at(-1),
    low: price(3).sort(byValue)[0],
    close: rows.at(-1)![4],
    volume: sum(5),
    quote: sum(7),
    trades: rows.reduce((n, r) => n + r[8], 0),
    takerVolume: sum(9),
    takerQuote: sum(10),
  };
}
const fromRow = (r: Row) => ({ open: r[1], high: r[2], low: r[3], close: r[4], volume: units(r[5]), quote: units(r[7]), trades: r[8], takerVolume: units(r[9]), takerQuote: units(r[10]) });

const arbTime = fc.integer({ min: LISTED, max: CLOCK - 40 * 86_400_000 });
const arbSymbol = fc.constantFrom('BTCUSDT', 'DOGEUSDT', 'SOLUSDT');
const arbTimeZone = fc.constantFrom('0', '+08:00', '-05:30', '+14:00', '-12:00', '3');

/** The row of `interval` holding time t equals the aggregate of its 1m rows (also with a timeZone). */
async function expectAggregateOfMinutes(symbol: string, interval: string, t: number, timeZone: string): Promise<void> {
  const tz = parseTimeZone(timeZone);
  const [row] = await klines({ symbol, interval, endTime: t, limit: 1, timeZone });
  expect(row![0]).toBe(bucketOpen(t, interval, tz));
  expect(row![6]).toBe(nextOpen(row![0], interval, tz) - 1);
  const ms = await minutes(symbol, row![0], row![6]);
  // A bucket that began before the listing holds only the minutes since.
  expect(ms.length).toBe((row![6] + 1 - Math.max(row![0], LISTED)) / 60_000);
  expect(fromRow(row!)).toEqual(aggregate(ms));
}

describe('every coarser interval is the exact aggregate of its 1m rows (REST)', () => {
  beforeAll(async () => {
    sim = await startSimExchange({ symbols: ['BTCUSDT', 'DOGEUSDT', 'SOLUSDT'], clockStart: CLOCK, clockSpeed: 1e-6, weightLimitPerMinute: 10_000_000 });
  });
  afterAll(async () => {
    await sim?.close();
  });

  test.prop([arbSymbol, fc.constantFrom('3m', '5m', '15m', '30m', '1h', '2h', '4h', '6h', '8h', '12h', '1d', '3d'), arbTime, arbTimeZone], { numRuns: 40 })(
    'minutes to days',
    async (symbol, interval, t, timeZone) => {
      await expectAggregateOfMinutes(symbol, interval, t, timeZone);
    },
  );

  // Each run reads a month of 1m rows (about 45 pages): slow on a loaded machine.
  test.prop([arbSymbol, fc.constantFrom('1w', '1M'), arbTime, arbTimeZone], { numRuns: 8 })(
    'weeks and calendar months',
    async (symbol, interval, t, timeZone) => {
      await expectAggregateOfMinutes(symbol, interval, t, timeZone);
    },
    120_000,
  );

  test.prop([arbSymbol, fc.constantFrom('5m', '1h', '1d', '1w', '1M'), arbTimeZone], { numRuns: 10 })(
    'the forming row is the aggregate of the 1m rows so far, forming minute included',
    async (symbol, interval, timeZone) => {
      const rows = await klines({ symbol, interval, limit: 1, timeZone });
      const forming = rows[0]!;
      expect(forming[0]).toBe(bucketOpen(sim.now(), interval, parseTimeZone(timeZone)));
      expect(forming[6]).toBeGreaterThan(sim.now());
      const ms = await minutes(symbol, forming[0], sim.now());
      expect(ms.at(-1)![6]).toBeGreaterThan(sim.now());
      expect(fromRow(forming)).toEqual(aggregate(ms));
    },
  );

  test.prop([arbSymbol, arbTime], { numRuns: 20 })('the 60 1s rows of a minute aggregate into its 1m row, every field', async (symbol, t) => {
    const open = bucketOpen(t, '1m');
    const [minute] = await klines({ symbol, interval: '1m', startTime: open, endTime: open });
    const seconds = await klines({ symbol, interval: '1s', startTime: open, endTime: open + 59_999, limit: 60 });
    expect(seconds).toHaveLength(60);
    expect(aggregate(seconds)).toEqual(fromRow(minute!));
  });

  test.prop([arbSymbol, fc.constantFrom('1m', '1h', '1d'), arbTime], { numRuns: 10 })('truth() equals the REST rows', async (symbol, interval, t) => {
    const rows = await klines({ symbol, interval, startTime: t, limit: 20 });
    const truth = sim.truth(symbol, interval, t, rows.at(-1)![0]);
    expect(truth).toEqual(rows.map((r) => ({ openTime: r[0], open: Number(r[1]), high: Number(r[2]), low: Number(r[3]), close: Number(r[4]), volume: Number(r[5]), closed: true })));
  });
});

describe('determinism', () => {
  test.prop([fc.integer({ min: LISTED, max: CLOCK - 86_400_000 })], { numRuns: 5 })('the same seed gives the same rows from a fresh simulator; another seed differs', async (t) => {
    const a = await startSimExchange({ symbols: ['ETHUSDT'], clockStart: CLOCK, seed: 7 });
    const b = await startSimExchange({ symbols: ['ETHUSDT'], clockStart: CLOCK + 5_000_000, seed: 7 });
    const c = await startSimExchange({ symbols: ['ETHUSDT'], clockStart: CLOCK, seed: 8 });
    try {
      const get = async (s: SimExchange) => (await (await fetch(`${s.restUrl}/api/v3/klines?symbol=ETHUSDT&interval=1h&startTime=${t}&limit=5`)).json()) as Row[];
      const [ra, rb, rc] = await Promise.all([get(a), get(b), get(c)]);
      expect(ra).toHaveLength(5);
      expect(rb).toEqual(ra);
      expect(rc).not.toEqual(ra);
    } finally {
      await Promise.all([a.close(), b.close(), c.close()]);
    }
  });
});
