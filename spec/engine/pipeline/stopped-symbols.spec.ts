import { describe, expect, it } from 'vitest';
import { StoppedSymbols } from '../../../engine/src/pipeline/stopped-symbols.ts';

/** A StoppedSymbols over a table of statuses, on a clock the spec moves; its timer never fires here. */
function rig(statuses: Record<string, string | undefined>) {
  let t = 0;
  const asked: string[] = [];
  let told = 0;
  const s = new StoppedSymbols({
    askStatus: (symbol) => {
      asked.push(symbol);
      if (statuses[symbol] === 'fail') return Promise.reject(new Error('503'));
      return Promise.resolve(statuses[symbol]);
    },
    trading: () => told++,
    everyMs: 3_600_000,
    now: () => t,
  });
  return { s, asked, told: () => told, at: (ms: number) => (t = ms) };
}

describe('StoppedSymbols', () => {
  it('asks after each stopped symbol, tells once when any trades again, forgets those the exchange no longer knows', async () => {
    const r = rig({ AAA: 'BREAK', BBB: 'TRADING', CCC: undefined, DDD: 'TRADING' });
    for (const x of ['AAA', 'BBB', 'CCC', 'DDD']) r.s.stopped(x);
    await r.s.check();
    expect(r.asked).toEqual(['AAA', 'BBB', 'CCC', 'DDD']);
    expect(r.told()).toBe(1);
    expect(r.s.symbols()).toEqual(['AAA', 'BBB', 'DDD']);
    // The catalog read again found them trading.
    r.s.resumed('BBB');
    r.s.resumed('DDD');
    expect(r.s.symbols()).toEqual(['AAA']);
  });

  it('keeps the five latest to stop, for a day; a failed ask keeps the symbol', async () => {
    const r = rig({ S1: 'fail', S5: 'BREAK', S6: 'BREAK', S7: 'BREAK' });
    for (let i = 1; i <= 7; i++) {
      r.at(i * 1000);
      r.s.stopped(`S${i}`);
    }
    expect(r.s.symbols()).toEqual(['S3', 'S4', 'S5', 'S6', 'S7']);
    r.s.stopped('S1');
    expect(r.s.symbols()).toEqual(['S4', 'S5', 'S6', 'S7', 'S1']);
    r.at(24 * 3_600_000 + 5000);
    await r.s.check();
    // S4 stopped at 4 s: more than a day ago, not asked; S1 failed: kept.
    expect(r.asked).toEqual(['S5', 'S6', 'S7', 'S1']);
    expect(r.s.symbols()).toEqual(['S5', 'S6', 'S7', 'S1']);
    r.s.stop();
  });
});
