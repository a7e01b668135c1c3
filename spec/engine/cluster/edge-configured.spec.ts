import { describe, expect, it } from 'vitest';
import { EdgeConfigured } from '../../../engine/src/cluster/edge-configured.ts';
import type { SeriesId } from '../../../engine/src/domain/series-id.ts';

/**
 * An edge's readiness waits for its configured series to be loaded and written by a leader, but not
 * for a listed symbol the exchange does not trade (or no longer does): no leader writes it (ingest
 * nodes pin the trading ones), and every edge stayed 503 for good, its clients told `reconnecting`
 * (a review: SYMBOLS=BTCUSDT,ETHUSDT,XRPUSDT with XRPUSDT not trading). Pure logic: a feed whose
 * series load and are written as the test says.
 */
describe("an edge's configured series and its readiness", () => {
  it('waits for every listed series until the markets are known, then only for those that trade', async () => {
    const written = new Set<string>();
    const trading = new Set(['BTCUSDT', 'ETHUSDT']);
    const warned: string[] = [];
    const configured = new EdgeConfigured({
      symbols: ['BTCUSDT', 'ETHUSDT', 'XRPUSDT'],
      intervals: ['1m'],
      feed: {
        follow: async () => {},
        unfollowAndFree: async () => {},
        isLoaded: () => true,
        isWritten: (id: SeriesId) => written.has(id.key),
      },
      ended: () => {},
      isTrading: (symbol) => trading.has(symbol),
      free: () => {},
      warn: (m) => warned.push(m),
    });
    await configured.start();
    written.add('BTCUSDT:1m');
    written.add('ETHUSDT:1m');
    // Markets not read yet: XRPUSDT may trade, and is waited for.
    expect(configured.ready(false)).toBe(false);
    expect(configured.notReady(false)).toMatch(/XRPUSDT:1m/);
    // It does not trade: nothing waits for it.
    expect(configured.ready(true)).toBe(true);
    expect(configured.notReady(true)).toBeUndefined();
    // One that trades and is not written yet still holds readiness back.
    written.delete('ETHUSDT:1m');
    expect(configured.notReady(true)).toMatch(/ETHUSDT:1m/);
    // It stops trading: no longer waited for (it stays followed: the list is the operator's).
    trading.delete('ETHUSDT');
    await configured.marketsRead([...trading], ['ETHUSDT'], (s) => `${s} stopped trading`);
    expect(configured.has({ symbol: 'ETHUSDT', interval: '1m', key: 'ETHUSDT:1m' })).toBe(true);
    expect(configured.ready(true)).toBe(true);
    // Each listed symbol not trading is said (reproduced: skipped in silence), once per change of the set.
    expect(configured.notTrading()).toEqual(['ETHUSDT', 'XRPUSDT']);
    expect(warned).toEqual(['configured symbols not trading on the exchange, skipped: ETHUSDT, XRPUSDT']);
    await configured.marketsRead([...trading], [], (s) => `${s} stopped trading`);
    expect(warned).toHaveLength(1);
    trading.add('ETHUSDT');
    await configured.marketsRead([...trading], [], (s) => `${s} stopped trading`);
    expect(warned.at(-1)).toBe('configured symbols not trading on the exchange, skipped: XRPUSDT');
  });
});
