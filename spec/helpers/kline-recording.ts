import { writeFileSync } from 'node:fs';
import { gzipSync } from 'node:zlib';

/** When the synthetic recording begins (its meta line's `t`). */
export const RECORDED_AT = 1_700_000_000_000;
/** Open time of its first 1m bar: 200 minutes before it began, on a minute. */
export const FIRST_BAR = RECORDED_AT - 200 * 60_000 - (RECORDED_AT % 60_000);

const kline = (symbol: string, openTime: number, t: number) => ({
  k: 'ws',
  t,
  d: JSON.stringify({ stream: `${symbol.toLowerCase()}@kline_1m`, data: { e: 'kline', E: t, s: symbol, k: { t: openTime, T: openTime + 59_999, s: symbol, i: '1m', o: '1', c: '2', h: '3', l: '0.5', v: '1', n: 1, x: true, q: '1', V: '1', Q: '1', B: '0' } } }),
});

/**
 * Writes a recording as `npm run record` would, of 1m frames only (`intervals`, its meta line's, may add
 * custom ones built on 1m): `configured` kept live (default
 * BTCUSDT), each `late` symbol from frame `from` on (the live run opened it on demand then). `bars`
 * closed bars per symbol from FIRST_BAR, one frame each `stepMs` of the recording's clock; `rest`: recorded
 * REST answers (lines as the recorder writes them), after the meta line.
 */
export function writeKlineRecording(path: string, opts: { bars: number; stepMs: number; configured?: string[]; intervals?: string[]; late?: Array<{ symbol: string; from: number }>; rest?: unknown[] }): void {
  const configured = opts.configured ?? ['BTCUSDT'];
  const lines: unknown[] = [{ k: 'meta', version: 1, t: RECORDED_AT, symbols: configured, intervals: opts.intervals ?? ['1m'], source: 'sim' }, ...(opts.rest ?? [])];
  for (let i = 0; i < opts.bars; i++) {
    const t = RECORDED_AT + 1 + i * opts.stepMs;
    for (const s of configured) lines.push(kline(s, FIRST_BAR + i * 60_000, t));
    for (const l of opts.late ?? []) if (i >= l.from) lines.push(kline(l.symbol, FIRST_BAR + i * 60_000, t));
  }
  writeFileSync(path, gzipSync(lines.map((l) => JSON.stringify(l)).join('\n') + '\n'));
}
