import { describe, expect, it } from 'vitest';
import { RecordedAnswers } from '../../../engine/src/record/recorded-answers.ts';

const rest = (q: string, rows: number[]) => ({ k: 'rest' as const, t: 1, a: 1, q, s: 200, b: JSON.stringify(rows.map((t) => [t, '1', '1', '1', '1', '1', t + 59_999])) });

describe('RecordedAnswers: kline rows by series', () => {
  it("keeps a question's symbol and interval apart: one holding ':' names no other series (reproduced: symbol=BTCUSDT:1m&interval=x set BTCUSDT 1m's first bar)", () => {
    const answers = new RecordedAnswers();
    expect(answers.add(rest('/api/v3/klines?symbol=BTCUSDT:1m&interval=x', [60_000]))).toBe(true);
    expect(answers.add(rest('/api/v3/klines?symbol=BTCUSDT&interval=1m', [120_000, 180_000]))).toBe(true);
    expect([...answers.oldestRows()]).toEqual([
      { symbol: 'BTCUSDT:1m', interval: 'x', openTime: 60_000 },
      { symbol: 'BTCUSDT', interval: '1m', openTime: 120_000 },
    ]);
    expect(answers.klines(new URLSearchParams('symbol=BTCUSDT&interval=1m')).map((r) => r[0])).toEqual([120_000, 180_000]);
    // The same text split otherwise is another series.
    expect(answers.klines(new URLSearchParams('symbol=BTCUSDT&interval=1m:x'))).toEqual([]);
    expect(answers.klines(new URLSearchParams('symbol=BTCUSDT:1m&interval=x')).map((r) => r[0])).toEqual([60_000]);
  });

  it('indexes no rows of a question without a symbol or interval', () => {
    const answers = new RecordedAnswers();
    answers.add(rest('/api/v3/klines?interval=1m', [60_000]));
    expect([...answers.oldestRows()]).toEqual([]);
    expect(answers.klines(new URLSearchParams('interval=1m'))).toEqual([]);
  });
});
