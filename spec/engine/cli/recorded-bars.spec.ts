import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { recordedBars } from '../../../engine/cli/recorded-bars.ts';
import type { Bar } from '../../../engine/src/domain/bar.ts';
import { isNativeInterval } from '../../../engine/src/domain/interval.ts';
import { sourceAmong } from '../../../engine/src/pipeline/custom-intervals.ts';
import type { RecordLine } from '../../../engine/src/record/recording-format.ts';
import { parseKlineRows, parseStreamFrame } from '../../../engine/src/sources/binance-raw.ts';

const dir = mkdtempSync(join(tmpdir(), 'recorded-bars-'));
let files = 0;
const write = (lines: ReadonlyArray<RecordLine | string>) => {
  const p = join(dir, `r${files++}.jsonl.gz`);
  writeFileSync(p, gzipSync(lines.map((l) => (typeof l === 'string' ? l : JSON.stringify(l))).join('\n') + '\n'));
  return p;
};

const MIN = 60_000;
const span = (i: string) => (i === '1m' ? MIN : 5 * MIN);
const frame = (s: string, i: string, t: number, close: number, closed: boolean): RecordLine => ({
  k: 'ws',
  t: t + 1,
  d: JSON.stringify({ stream: `${s.toLowerCase()}@kline_${i}`, data: { e: 'kline', E: t + 1, s, k: { t, T: t + span(i) - 1, s, i, o: '1', c: String(close), h: '9', l: '0.5', v: '2', n: 3, x: closed, q: '4', V: '1', Q: '2', B: '0' } } }),
});
const page = (s: string, i: string, rows: Array<[t: number, close: number]>, at: number): RecordLine => ({
  k: 'rest',
  t: at,
  a: at,
  q: `/api/v3/klines?symbol=${s}&interval=${i}&limit=${rows.length}`,
  s: 200,
  b: JSON.stringify(rows.map(([t, c]) => [t, '1', '9', '0.5', String(c), '2', t + span(i) - 1, '4', 3, '1', '2', '0'])),
});
const meta = (symbols: string[], intervals: string[]): RecordLine => ({ k: 'meta', t: 0, symbols, intervals, source: 'sim' });

/** What the batch read before it streamed: the whole recording in memory, then one pass over it. */
function reference(lines: ReadonlyArray<RecordLine | string>, symbol: string, target: string): { source: string; bars: Bar[] } | string {
  const recs = lines.filter((l): l is RecordLine => typeof l !== 'string');
  const m = recs.find((l) => l.k === 'meta');
  if (!m || m.k !== 'meta') return 'recording';
  const interval = sourceAmong(target, m.intervals.filter(isNativeInterval));
  if (!interval) return 'recording';
  const byOpen = new Map<number, Bar>();
  for (const l of recs) {
    try {
      if (l.k === 'rest' && l.s === 200) {
        const q = new URL(l.q, 'http://recording').searchParams;
        if (q.get('symbol') !== symbol || q.get('interval') !== interval) continue;
        for (const b of parseKlineRows(JSON.parse(l.b), l.t)) if (b.closed) byOpen.set(b.openTime, b);
      } else if (l.k === 'ws') {
        const f = parseStreamFrame(l.d);
        if (f.kind === 'kline' && f.bar.closed && f.symbol === symbol && f.interval === interval) byOpen.set(f.bar.openTime, f.bar);
      }
    } catch {
      // counted by the real one
    }
  }
  // Any symbol is read (one opened on demand, any of `*`): refused when it holds no bar, listed or not.
  if (!byOpen.size) return 'symbol';
  return { source: interval, bars: [...byOpen.values()].sort((a, b) => a.openTime - b.openTime) };
}

describe('recordedBars (the series batch over a recording)', () => {
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('keeps the closed bars of the symbol at the coarsest recorded interval that builds the target, the later received winning', async () => {
    const t0 = 1_700_000_100_000 - (1_700_000_100_000 % (5 * MIN));
    const file = write([
      meta(['BTCUSDT', 'ETHUSDT'], ['1m', '5m']),
      page('BTCUSDT', '5m', [[t0, 10], [t0 + 5 * MIN, 11]], t0 + 11 * MIN),
      frame('BTCUSDT', '5m', t0 + 5 * MIN, 12, true),
      frame('BTCUSDT', '5m', t0 + 10 * MIN, 13, false),
      frame('ETHUSDT', '5m', t0 + 10 * MIN, 99, true),
      frame('BTCUSDT', '1m', t0, 1, true),
      'not json',
    ]);
    const r = await recordedBars(file, 'BTCUSDT', '15m');
    expect(r.source).toBe('5m');
    expect(r.bars.map((b) => [b.openTime, b.close])).toEqual([
      [t0, 10],
      [t0 + 5 * MIN, 12],
    ]);
    expect(r.skipped).toBe(1);
  });

  it('names the flag at fault: no meta line, an interval nothing recorded builds, a symbol it lacks, a file it cannot read', async () => {
    const err = (p: Promise<unknown>) => p.then(() => undefined, (e: unknown) => e as { flag: string; message: string });
    expect(await err(recordedBars(write([frame('BTCUSDT', '1m', 0, 1, true)]), 'BTCUSDT', '1m'))).toMatchObject({ flag: 'recording', message: expect.stringMatching(/no meta line/) });
    expect(await err(recordedBars(write([meta(['BTCUSDT'], ['5m'])]), 'BTCUSDT', '3m'))).toMatchObject({ flag: 'recording', message: expect.stringMatching(/holds 5m bars; none of them builds 3m/) });
    expect(await err(recordedBars(write([meta(['BTCUSDT'], ['1m']), frame('ETHUSDT', '1m', 0, 1, true)]), 'SOLUSDT', '1m'))).toMatchObject({ flag: 'symbol', message: expect.stringMatching(/holds no closed 1m bar of SOLUSDT \(the interval that builds 1m\); it holds bars of ETHUSDT$/) });
    expect(await err(recordedBars(join(dir, 'missing.jsonl.gz'), 'BTCUSDT', '1m'))).toMatchObject({ flag: 'recording', message: expect.stringMatching(/cannot read/) });
    const notGzip = join(dir, 'plain.jsonl.gz');
    writeFileSync(notGzip, JSON.stringify(meta(['BTCUSDT'], ['1m'])) + '\n');
    expect(await err(recordedBars(notGzip, 'BTCUSDT', '1m'))).toMatchObject({ flag: 'recording', message: expect.stringMatching(/not gzip/) });
  });

  it('refuses a recording of another format version as SOURCE=replay does, naming --recording (reproduced: read as version 1, every line of it malformed)', async () => {
    const err = (p: Promise<unknown>) => p.then(() => undefined, (e: unknown) => e as { flag: string; message: string });
    const bars = [frame('BTCUSDT', '1m', 0, 1, true)];
    for (const [version, shown] of [[2, '2'], ['x', '"x"']] as const) {
      const file = write([{ ...meta(['BTCUSDT'], ['1m']), version } as RecordLine, ...bars]);
      expect(await err(recordedBars(file, 'BTCUSDT', '1m'))).toMatchObject({ flag: 'recording', message: `--recording: '${file}' cannot be read: its meta line says format version ${shown}: this engine reads version 1` });
    }
    // Version 1, or none (written before it existed), are read.
    for (const m of [{ ...meta(['BTCUSDT'], ['1m']), version: 1 }, meta(['BTCUSDT'], ['1m'])]) expect((await recordedBars(write([m, ...bars]), 'BTCUSDT', '1m')).bars).toHaveLength(1);
  });

  it('reads any symbol the recording holds bars of, as a replay serves them: one opened on demand, every one with SYMBOLS=* (reproduced: refused, not in the meta line)', async () => {
    const lines = [frame('BTCUSDT', '1m', 0, 1, true), frame('SOLUSDT', '1m', 0, 7, true), page('SOLUSDT', '1m', [[MIN, 8]], 3 * MIN)];
    for (const m of [meta(['BTCUSDT'], ['1m']), meta(['*'], ['1m'])]) {
      const r = await recordedBars(write([m, ...lines]), 'SOLUSDT', '1m');
      expect(r.bars.map((b) => [b.openTime, b.close])).toEqual([
        [0, 7],
        [MIN, 8],
      ]);
    }
  });

  it("refuses a symbol it holds no bar of, naming --symbol and what it holds, whatever its meta line lists: '*', or the symbol itself (reproduced: 0 bars, an empty series written)", async () => {
    const err = (p: Promise<unknown>) => p.then((r) => r, (e: unknown) => e as { flag: string; message: string });
    const btc = frame('BTCUSDT', '1m', 0, 1, true);
    for (const symbols of [['*'], ['BTCUSDT', 'TYPOUSDT']]) {
      const file = write([meta(symbols, ['1m']), btc]);
      for (const symbol of ['TYPOUSDT', 'NOPEUSDT']) {
        expect(await err(recordedBars(file, symbol, '1m')), `${symbols.join(',')} ${symbol}`).toMatchObject({ flag: 'symbol', message: `--symbol: '${file}' holds no closed 1m bar of ${symbol} (the interval that builds 1m); it holds bars of BTCUSDT` });
      }
    }
    // Klines of it, none closed at the interval that builds the target: said.
    const forming = write([meta(['BTCUSDT'], ['1m', '5m']), frame('BTCUSDT', '1m', 0, 1, false), frame('BTCUSDT', '5m', 0, 1, true)]);
    expect(await err(recordedBars(forming, 'BTCUSDT', '1m'))).toMatchObject({ flag: 'symbol', message: `--symbol: '${forming}' holds no closed 1m bar of BTCUSDT (the interval that builds 1m); it holds 1m, 5m klines of BTCUSDT, none closed at that interval` });
    expect(await err(recordedBars(write([meta(['*'], ['1m'])]), 'BTCUSDT', '1m'))).toMatchObject({ flag: 'symbol', message: expect.stringMatching(/it holds no bar of any symbol$/) });
  });

  it('streams to the same bars as a read of the whole recording, wherever its meta line is (property)', async () => {
    const t0 = 1_700_000_100_000 - (1_700_000_100_000 % (5 * MIN));
    const symbols = ['BTCUSDT', 'ETHUSDT'];
    const line = fc.oneof(
      fc.record({ s: fc.constantFrom(...symbols), i: fc.constantFrom('1m', '5m'), n: fc.nat(6), c: fc.integer({ min: 1, max: 99 }), x: fc.boolean() }).map(({ s, i, n, c, x }) => frame(s, i, t0 + n * span(i), c, x)),
      fc
        .record({ s: fc.constantFrom(...symbols), i: fc.constantFrom('1m', '5m'), rows: fc.array(fc.tuple(fc.nat(6), fc.integer({ min: 1, max: 99 })), { maxLength: 4 }), at: fc.nat(20) })
        .map(({ s, i, rows, at }) => page(s, i, rows.map(([n, c]) => [t0 + n * span(i), c]), t0 + at * MIN)),
      fc.constant('{"k":"ws","t":1,"d":"{not a frame"}'),
      fc.constant('garbage'),
    );
    await fc.assert(
      fc.asyncProperty(
        fc.array(line, { maxLength: 25 }),
        fc.option(fc.record({ at: fc.nat(25), intervals: fc.subarray(['1m', '5m'], { minLength: 1 }), symbols: fc.subarray(symbols, { minLength: 1 }) })),
        fc.constantFrom('1m', '5m', '15m', '3m'),
        async (body, m, target) => {
          const lines: Array<RecordLine | string> = [...body];
          if (m) lines.splice(Math.min(m.at, lines.length), 0, meta(m.symbols, m.intervals));
          const want = reference(lines, 'BTCUSDT', target);
          const got = await recordedBars(write(lines), 'BTCUSDT', target).catch((e: { flag: string }) => e.flag);
          expect(got === undefined ? undefined : typeof got === 'string' ? got : { source: got.source, bars: got.bars }).toEqual(want);
        },
      ),
      { numRuns: 150 },
    );
  });
});
