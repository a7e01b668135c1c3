import { fc, test } from '@fast-check/vitest';
import { describe, expect, it } from 'vitest';
import type { Bar } from '../../../engine/src/domain/bar.ts';
import { parseKlineRows } from '../../../engine/src/sources/binance-raw.ts';
import { bodyText, readKlineBody as readBytes } from '../../../engine/src/sources/kline-body.ts';

/** The reader on a body's UTF-8 bytes, as BinanceRest hands it over. */
const readKlineBody = (text: string, now: number) => readBytes(Buffer.from(text, 'utf8'), now);

/** The reference: the general path BinanceRest takes for a body the fast reader leaves alone. */
function reference(text: string, now: number): { bars: Bar[] } | { error: string } {
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    return { error: 'not JSON' };
  }
  try {
    return { bars: parseKlineRows(body, now) };
  } catch (e) {
    return { error: (e as Error).name };
  }
}

/** Decimal strings as Binance writes them, plus long ones (past 2^53, past 10^22) and odd ones. */
const arbDecimal = fc.oneof(
  { weight: 6, arbitrary: fc.stringMatching(/^(0|[1-9][0-9]{0,7})\.[0-9]{8}$/) },
  { weight: 2, arbitrary: fc.stringMatching(/^(0|[1-9][0-9]{0,20})(\.[0-9]{1,30})?$/) },
  { weight: 1, arbitrary: fc.double({ noNaN: true, noDefaultInfinity: true, min: 0 }).map(String) },
  { weight: 1, arbitrary: fc.constantFrom('0', '0.0', '-0', '-1.5', '00.5', '.5', '5.', '1e3', '', ' 1', '0x10', 'Infinity', '1'.repeat(400)) },
);
/** A price or volume field: usually a quoted decimal, sometimes a bare JSON number (Number() takes both). */
const arbValue = fc.oneof({ weight: 9, arbitrary: arbDecimal.map((s) => JSON.stringify(s)) }, { weight: 1, arbitrary: fc.double({ noNaN: true, noDefaultInfinity: true }).map((n) => JSON.stringify(n)) });
const arbTime = fc.oneof({ weight: 9, arbitrary: fc.integer({ min: 0, max: 2 ** 45 }).map(String) }, { weight: 1, arbitrary: fc.constantFrom('-1', '1.5', '"1700000040000"', '9007199254740993', '1e12') });
const arbTail = fc.array(
  fc.oneof(
    { weight: 6, arbitrary: arbDecimal.map((s) => JSON.stringify(s)) },
    { weight: 3, arbitrary: fc.integer().map(String) },
    { weight: 2, arbitrary: fc.constantFrom('true', 'false', 'null', '"é"', '""') },
    { weight: 1, arbitrary: fc.constantFrom('"a\\"b"', '[]', '{}', 'nul', '01') },
  ),
  { maxLength: 6 },
);
const arbWs = fc.constantFrom('', '', '', ' ', '\n  ', '\t');

/** One row as text: seven fields we read, then what Binance appends (quote volume, trades, …). */
const arbRow = fc.tuple(arbTime, arbValue, arbValue, arbValue, arbValue, arbValue, arbTime, arbTail, arbWs).map(([t, o, h, l, c, v, ct, tail, ws]) => `[${[t, o, h, l, c, v, ct, ...tail].join(`,${ws}`)}]`);

/** A row of Binance's exact shape with consistent values: the fast reader must take these. */
const arbBinanceRow = fc
  .record({
    openTime: fc.integer({ min: 0, max: 2 ** 45 }),
    prices: fc.array(fc.stringMatching(/^(0|[1-9][0-9]{0,6})\.[0-9]{2,8}$/), { minLength: 4, maxLength: 4 }),
    volume: fc.stringMatching(/^(0|[1-9][0-9]{0,9})\.[0-9]{8}$/),
    trades: fc.nat(),
  })
  .map(({ openTime, prices, volume, trades }) => {
    const sorted = [...prices].sort((a, b) => Number(a) - Number(b));
    const [low, open, close, high] = sorted as [string, string, string, string];
    return [openTime, open, high, low, close, volume, openTime + 59_999, '123.45600000', trades, '1.00000000', '2.00000000', '0'];
  });

describe('readKlineBody (the REST klines fast path)', () => {
  test.prop([fc.array(arbBinanceRow, { maxLength: 60 }), fc.integer({ min: 0, max: 2 ** 46 }), fc.boolean()])('reads every Binance-shaped body, equal to JSON.parse + parseKlineRows', (rows, now, pretty) => {
    const text = JSON.stringify(rows, null, pretty ? 1 : undefined);
    const fast = readKlineBody(text, now);
    expect(fast).toBeDefined();
    expect(fast).toEqual(parseKlineRows(JSON.parse(text), now));
  });

  test.prop([fc.array(arbRow, { maxLength: 8 }), fc.integer({ min: 0, max: 2 ** 46 }), arbWs])('on any body: the same bars as the general path, or it steps aside (never a different answer, never a throw)', (rows, now, ws) => {
    const text = `${ws}[${rows.join(`,${ws}`)}]${ws}`;
    const fast = readKlineBody(text, now);
    const ref = reference(text, now);
    if (fast !== undefined) expect(ref).toEqual({ bars: fast });
  });

  test.prop([fc.array(arbBinanceRow, { minLength: 1, maxLength: 10 }), fc.nat(), fc.nat(), fc.string({ maxLength: 3 })])('a damaged body is left to the general path, which refuses it as before', (rows, at, cut, junk) => {
    const good = JSON.stringify(rows);
    const i = at % good.length;
    const text = good.slice(0, i) + junk + good.slice(i + (cut % 3));
    const fast = readKlineBody(text, 0);
    const ref = reference(text, 0);
    if (fast === undefined) return;
    expect(ref).toEqual({ bars: fast });
  });

  it('reads numbers exactly as Number() does, including the ones past the exact fast sum', () => {
    const cases = ['0.1', '0.30000000000000004', '36500.10000000', '9007199254740993', '123456789012345678901234.5', '0.' + '1'.repeat(30), '-0', '1' + '0'.repeat(22), '4.35'];
    for (const s of cases) {
      const text = `[[1,${JSON.stringify(s)},${JSON.stringify(s)},${JSON.stringify(s)},${JSON.stringify(s)},"1",2]]`;
      const bar = readKlineBody(text, 10);
      if (s.startsWith('-')) {
        expect(bar?.[0]?.open).toBe(-0);
        continue;
      }
      expect(bar?.[0]?.open).toBe(Number(s));
    }
  });

  it('marks only the last row forming, and only when it had not closed when asked', () => {
    const text = JSON.stringify([
      [0, '1', '1', '1', '1', '0', 59_999],
      [60_000, '1', '1', '1', '1', '0', 119_999],
    ]);
    expect(readKlineBody(text, 100_000)!.map((b) => b.closed)).toEqual([true, false]);
    expect(readKlineBody(text, 120_000)!.map((b) => b.closed)).toEqual([true, true]);
    expect(readKlineBody('[]', 0)).toEqual([]);
  });

  it('decodes a body it leaves alone as undici does (a byte-order mark skipped)', () => {
    const bom = Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from('[[1,"1","1","1","1","1",2]]')]);
    expect(readBytes(bom, 0)).toBeUndefined();
    expect(JSON.parse(bodyText(bom))).toEqual([[1, '1', '1', '1', '1', '1', 2]]);
    expect(bodyText(Buffer.from('é"x'))).toBe('é"x');
    expect(readKlineBody('[[1,"1","1","1","1","1",2,"é\\u00e9"]]', 0)).toBeUndefined();
    expect(readKlineBody('[[1,"1","1","1","1","1",2,"é"]]', 0)).toHaveLength(1);
  });

  it('steps aside on what it does not read: escapes, exponents, short rows, failed checks, trailing text', () => {
    for (const text of ['[[1,"1","1","1","1","1"]]', '[[1,"1e0","1","1","1","1",2]]', '[[1,"1","1","2","1","1",2]]', '[[1,"1","1","1","1","-1",2]]', '[[1,"1","1","1","1","1",2,"\\u0030"]]', '[[1,"1","1","1","1","1",2]] x', '{"code":-1121}', '']) {
      expect(readKlineBody(text, 0)).toBeUndefined();
    }
  });
});
