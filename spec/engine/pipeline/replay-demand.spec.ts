import { describe, expect, it } from 'vitest';
import type { SeriesId } from '../../../engine/src/domain/series-id.ts';
import { createLogger } from '../../../engine/src/log.ts';
import { replayDemand } from '../../../engine/src/pipeline/replay-demand.ts';
import { SeriesCatalog } from '../../../engine/src/pipeline/series-catalog.ts';

/** 1h served; 45m and 90m custom, built on 15m and 30m, which are streamed but not served. */
const catalog = () => {
  const c = new SeriesCatalog(['BTCUSDT'], ['1h', '45m', '90m'], 'replay', 1000);
  c.setMarkets(['BTCUSDT', 'SOLUSDT', 'ETHUSDT'].map((symbol) => ({ symbol, base: symbol.slice(0, 3), quote: 'USDT' })));
  return c;
};

/** What a lifecycle is asked to pin, and what it then has (a custom interval's source too). */
function pins(cat: SeriesCatalog) {
  const pinned: string[] = [];
  const has = new Set<string>();
  return {
    pinned,
    lifecycle: {
      pinSeries(id: SeriesId) {
        pinned.push(id.key);
        for (const k of [id, cat.sourceOf(id)]) if (k) has.add(k.key);
      },
      has: (id: SeriesId) => has.has(id.key),
    },
  };
}

const logged = () => {
  const warns: string[] = [];
  return { warns, log: createLogger('warn', 'replay', (line) => void warns.push(line)) };
};

describe('replayDemand: the series a replay pins for a stream the live run opened on demand', () => {
  it('pins only what the live run had: the interval if served, else the custom intervals built on it, not every interval of the symbol', () => {
    const cat = catalog();
    const { pinned, lifecycle } = pins(cat);
    const starting = replayDemand(cat, lifecycle, 100, logged().log);
    expect(starting('SOLUSDT', '1h')).toBe(true);
    expect(pinned).toEqual(['SOLUSDT:1h']);
    expect(starting('ETHUSDT', '15m')).toBe(true);
    expect(pinned).toEqual(['SOLUSDT:1h', 'ETHUSDT:45m']);
    // Nothing served is built on it, or the symbol does not trade: not subscribed.
    expect(starting('ETHUSDT', '3m')).toBe(false);
    expect(starting('XRPUSDT', '1h')).toBe(false);
    expect(pinned).toHaveLength(2);
  });

  it('pins at most maxSeries over the whole replay (a hidden source counts), then says once that the later streams are not replayed', () => {
    const cat = catalog();
    const { pinned, lifecycle } = pins(cat);
    const { warns, log } = logged();
    const starting = replayDemand(cat, lifecycle, 3, log);
    expect(starting('SOLUSDT', '15m')).toBe(true); // 45m and its 15m
    expect(starting('SOLUSDT', '1h')).toBe(true);
    expect(starting('ETHUSDT', '1h')).toBe(false);
    expect(starting('ETHUSDT', '30m')).toBe(false);
    expect(pinned).toEqual(['SOLUSDT:45m', 'SOLUSDT:1h']);
    expect(warns).toHaveLength(1);
    expect(warns[0]).toContain('3 series the live run opened on demand are replayed, at most MAX_ON_DEMAND_SERIES (3); the streams it opened after them are not replayed');
  });

  it('answers false, said, when the lifecycle throws (it is asked in the player\'s timer)', () => {
    const cat = catalog();
    const { warns, log } = logged();
    const starting = replayDemand(cat, { pinSeries: () => { throw new Error('boom'); }, has: () => false }, 10, log);
    expect(starting('SOLUSDT', '1h')).toBe(false);
    expect(warns.join('\n')).toContain('SOLUSDT@1h, opened on demand while recording, is not replayed');
  });
});
