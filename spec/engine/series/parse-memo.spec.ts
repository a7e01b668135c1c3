import { describe, expect, it } from 'vitest';
import { ParseMemo } from '../../../engine/src/series/parse-memo.ts';

describe('ParseMemo', () => {
  it('parses each (spec, interval) once and answers the same result after, refusals included', () => {
    const calls: string[] = [];
    const memo = new ParseMemo((spec: string | undefined, interval: string) => {
      calls.push(`${interval} ${spec}`);
      return spec === 'bad' ? { ok: false as const, error: 'bad' } : { ok: true as const, value: [spec, interval] };
    });
    const first = memo.get('ema,rsi', '1m');
    expect(memo.get('ema,rsi', '1m')).toBe(first);
    expect(memo.get('ema,rsi', '5m')).toEqual({ ok: true, value: ['ema,rsi', '5m'] });
    expect(memo.get('bad', '1m')).toEqual({ ok: false, error: 'bad' });
    expect(memo.get('bad', '1m')).toEqual({ ok: false, error: 'bad' });
    expect(calls).toEqual(['1m ema,rsi', '5m ema,rsi', '1m bad']);
  });

  it('does not keep an absent spec, and forgets the least recently used beyond its bound', () => {
    let calls = 0;
    const memo = new ParseMemo(() => ++calls);
    memo.get(undefined, '1m');
    memo.get(undefined, '1m');
    expect(calls).toBe(2);
    const first = memo.get('s0', '1m');
    for (let i = 1; i <= 600; i++) memo.get(`s${i}`, '1m');
    // 512 entries kept: s0 went first.
    expect(memo.get('s0', '1m')).not.toBe(first);
    const recent = memo.get('s600', '1m');
    expect(memo.get('s600', '1m')).toBe(recent);
  });
});
