import { describe, expect, it } from 'vitest';
import type { Bar } from '../../../engine/src/domain/bar.ts';
import { HistoryRefusedError } from '../../../engine/src/domain/errors.ts';
import { AddressRateLimit } from '../../../engine/src/server/address-rate-limit.ts';
import { ClientHistory, EXCHANGE_PAGE } from '../../../engine/src/server/client-history.ts';

const M = 60_000;
const bar = (t: number, closed = true): Bar => ({ openTime: t, open: 1, high: 1, low: 1, close: 1, volume: 1, closed });
const page = (endTime: number, limit: number, closed = true) => Array.from({ length: limit }, (_, i) => bar(Math.floor(endTime / M) * M - (limit - 1 - i) * M, closed));

/** An exchange page source whose answers the test releases by hand, counting every call. */
function exchange(closed = true) {
  const calls: Array<{ endTime: number; limit: number; release(): void; fail(e: Error): void }> = [];
  const fetch = (_s: string, _i: string, endTime: number, limit: number) =>
    new Promise<Bar[]>((resolve, reject) => calls.push({ endTime, limit, release: () => resolve(page(endTime, limit, closed)), fail: reject }));
  return { calls, fetch };
}

const refusal = async (p: Promise<unknown>) => {
  const e = await p.then(
    () => undefined,
    (err: unknown) => err,
  );
  expect(e).toBeInstanceOf(HistoryRefusedError);
  return (e as HistoryRefusedError).info;
};

describe('ClientHistory', () => {
  it('coalesces identical page requests: one exchange call answers them all', async () => {
    const ex = exchange();
    const h = new ClientHistory({ fetch: ex.fetch });
    // Different endTimes inside the same bar ask for the same page.
    const asks = Array.from({ length: 20 }, (_, i) => h.page(`10.0.0.${i}`, 'BTCUSDT', '1m', 100 * M + i * 1000, 50));
    await Promise.resolve();
    expect(ex.calls).toHaveLength(1);
    ex.calls[0]!.release();
    const pages = await Promise.all(asks);
    for (const p of pages) expect(p).toEqual(page(100 * M, 50));
    expect(h.stats()).toMatchObject({ fetched: 1, coalesced: 19 });
  });

  it('caches pages of closed bars (bounded, least recently used first), never pages with a forming bar', async () => {
    const ex = exchange();
    // Each page is a full exchange page (EXCHANGE_PAGE bars, counted one more): room for two.
    const h = new ClientHistory({ fetch: ex.fetch, maxCachedBars: 2.5 * EXCHANGE_PAGE });
    const ask = (t: number) => {
      const p = h.page('a', 'BTCUSDT', '1m', t * M, 50);
      ex.calls.at(-1)?.release();
      return p;
    };
    await ask(100);
    await ask(200);
    expect(ex.calls).toHaveLength(2);
    expect(await ask(100)).toEqual(page(100 * M, 50)); // hit, and now most recent
    expect(ex.calls).toHaveLength(2);
    await ask(300); // a third page is past the bound: the least recently used (200) goes
    expect(h.stats()).toMatchObject({ cachedPages: 2, cachedBars: 2 * (EXCHANGE_PAGE + 1), cacheHits: 1 });
    await ask(100);
    expect(ex.calls).toHaveLength(3);
    const p = h.page('a', 'BTCUSDT', '1m', 200 * M, 50);
    expect(ex.calls).toHaveLength(4);
    ex.calls[3]!.release();
    await p;

    const forming = exchange(false);
    const h2 = new ClientHistory({ fetch: forming.fetch });
    for (let i = 0; i < 2; i++) {
      const q = h2.page('a', 'BTCUSDT', '1m', 100 * M, 10);
      forming.calls.at(-1)!.release();
      await q;
    }
    expect(forming.calls).toHaveLength(2);
    expect(h2.stats().cachedPages).toBe(0);
  });

  it('asks the exchange for full pages: every limit up to one is cut from the same cached page (reproduced: each limit a call)', async () => {
    const ex = exchange();
    const h = new ClientHistory({ fetch: ex.fetch, perAddressBurst: 1000, perAddressPerMinute: 1000 });
    const first = h.page('a', 'BTCUSDT', '1m', 100 * M, 50);
    ex.calls[0]!.release();
    expect(await first).toEqual(page(100 * M, 50));
    for (const limit of [1, 463, 499, EXCHANGE_PAGE]) expect(await h.page('a', 'BTCUSDT', '1m', 100 * M + 1, limit)).toEqual(page(100 * M, limit));
    expect(ex.calls.map((c) => c.limit)).toEqual([EXCHANGE_PAGE]);
    expect(h.stats()).toMatchObject({ fetched: 1, cacheHits: 4 });
  });

  it("answers endTimes before a series' listing without the exchange, and keeps no page for them (reproduced: 500,000 empty pages cached)", async () => {
    const listing = 1_000 * M;
    const calls: number[] = [];
    const h = new ClientHistory({
      fetch: async (_s, _i, endTime, limit) => {
        calls.push(endTime);
        return page(endTime, limit).filter((b) => b.openTime >= listing);
      },
      perAddressBurst: 1000,
      perAddressPerMinute: 1000,
    });
    expect(await h.page('a', 'BTCUSDT', '1m', listing - 10 * M, 500)).toEqual([]);
    for (let i = 11; i < 511; i++) expect(await h.page('a', 'BTCUSDT', '1m', listing - i * M, 500)).toEqual([]);
    expect(calls).toEqual([listing - 10 * M]);
    expect(h.stats()).toMatchObject({ cachedPages: 0, cachedBars: 0 });
    // Later endTimes still ask (bars may be there), and another series knows nothing of this one.
    expect(await h.page('a', 'BTCUSDT', '1m', listing + 5 * M, 3)).toEqual(page(listing + 5 * M, 3));
    expect(await h.page('a', 'ETHUSDT', '1m', listing - 20 * M, 3)).toEqual([]);
    expect(calls).toHaveLength(3);
  });

  it('bounds the pages waiting for the exchange: beyond maxPending, 503-style refusals with a retry time', async () => {
    const ex = exchange();
    const h = new ClientHistory({ fetch: ex.fetch, maxPending: 3 });
    const waiting = [1, 2, 3].map((i) => h.page(`10.0.0.${i}`, 'BTCUSDT', '1m', i * 1000 * M, 10));
    expect(await refusal(h.page('10.0.0.9', 'BTCUSDT', '1m', 9000 * M, 10))).toEqual({ reason: 'busy', retryAfterSec: 1 });
    // Joining a page already being fetched is free.
    const joined = h.page('10.0.0.9', 'BTCUSDT', '1m', 1000 * M, 10);
    for (const c of ex.calls) c.release();
    await Promise.all([...waiting, joined]);
    expect(ex.calls).toHaveLength(3);
    const after = h.page('10.0.0.9', 'BTCUSDT', '1m', 9000 * M, 10);
    ex.calls.at(-1)!.release();
    expect(await after).toHaveLength(10);
    expect(h.stats()).toMatchObject({ refusedBusy: 1, pending: 0 });
  });

  it('rate-limits each client address (429-style with a retry time); other addresses and cached pages are unaffected', async () => {
    let now = 1_000_000;
    const ex = exchange();
    const h = new ClientHistory({ fetch: ex.fetch, perAddressPerMinute: 6, perAddressBurst: 2, now: () => now });
    const ask = (addr: string, t: number) => {
      const p = h.page(addr, 'BTCUSDT', '1m', t * M, 5);
      ex.calls.at(-1)?.release();
      return p;
    };
    await ask('1.1.1.1', 1);
    await ask('1.1.1.1', 2);
    expect(await refusal(ask('1.1.1.1', 3))).toEqual({ reason: 'rate', retryAfterSec: 10 });
    expect(await ask('2.2.2.2', 3)).toHaveLength(5);
    expect(await ask('1.1.1.1', 3)).toHaveLength(5); // cached by the other address's request
    now += 10_000;
    expect(await ask('1.1.1.1', 4)).toHaveLength(5);
    expect(h.stats().refusedRate).toBe(1);
  });

  it('passes exchange failures through without caching them', async () => {
    const ex = exchange();
    const h = new ClientHistory({ fetch: ex.fetch });
    const p = h.page('a', 'BTCUSDT', '1m', M * 10, 5);
    ex.calls[0]!.fail(new Error('HTTP 500'));
    await expect(p).rejects.toThrow('HTTP 500');
    const q = h.page('a', 'BTCUSDT', '1m', M * 10, 5);
    ex.calls[1]!.release();
    expect(await q).toHaveLength(5);
  });
});

describe('AddressRateLimit', () => {
  it('refills at perMinute and forgets the least recently seen addresses beyond maxAddresses', () => {
    let now = 0;
    const rl = new AddressRateLimit({ perMinute: 60, burst: 3, maxAddresses: 2, now: () => now });
    expect([rl.take('a'), rl.take('a'), rl.take('a')]).toEqual([0, 0, 0]);
    expect(rl.take('a')).toBe(1);
    now += 1000;
    expect(rl.take('a')).toBe(0);
    rl.take('b');
    rl.take('c');
    expect(rl.addresses).toBe(2);
    expect(() => new AddressRateLimit({ perMinute: 0, burst: 1 })).toThrow(TypeError);
  });
});
