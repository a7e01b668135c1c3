import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { App } from '../../../engine/src/app.ts';
import { instancesPerAddress } from '../../../engine/src/server/ws-route.ts';
import { startTestApp } from '../../helpers/test-app.ts';
import { EngineClient } from '../../helpers/ws-client.ts';

/** `def` and four variants of it (the per-address variant cap): five instances. */
const five = (def: string, param: string, from: number) => [def, ...[0, 1, 2, 3].map((i) => `${def}:${param}=${from + i}`)];
type First = { data?: unknown[]; seriesStatus?: Record<string, { state: string; error?: string }> };

/**
 * The derived-series instances one address may hold at once (ROLE=all; the cluster's count across
 * edges: shared-connections.int.spec.ts). MAX_SERIES_INSTANCES=48: a share of 16, a full request.
 */
describe('derived-series instances per address on /ws (a share of MAX_SERIES_INSTANCES)', () => {
  let app: App;
  let ws: string;
  const open: EngineClient[] = [];
  beforeAll(async () => {
    app = await startTestApp({ source: 'sim', symbols: ['BTCUSDT'], intervals: ['1m', '5m'], bufferSize: 100, historyOnConnect: 50, seriesDir: 'series', maxConnectionsPerAddress: 10, maxSeriesInstances: 48, trustProxy: ['127.0.0.1'], onDemandPerMinute: 1000, simOptions: { pushIntervalMs: 100, clockSpeed: 60 } });
    await app.ready;
    ws = app.url.replace('http', 'ws');
  });
  afterAll(async () => {
    for (const c of open) c.close();
    await app?.stop();
  });
  const ask = async (address: string, interval: string, labels: string[]) => {
    const c = new EngineClient(`${ws}/ws/BTCUSDT?interval=${interval}&series=${encodeURIComponent(labels.join(','))}`, { headers: { 'x-forwarded-for': address } });
    open.push(c);
    await c.until((x) => x.historical() !== undefined || x.closeCode !== undefined, 20_000, 'historical');
    return c;
  };
  /** The labels failed to the socket for the address's share (its candles served all the same). */
  const overShare = (c: EngineClient) => {
    const h = c.historical() as First | undefined;
    expect(h?.data?.length ?? 0, 'candles served').toBeGreaterThan(0);
    return Object.entries(h?.seriesStatus ?? {})
      .filter(([, st]) => st.state === 'failed' && /derived series held at once from one address/.test(st.error ?? ''))
      .map(([label]) => label);
  };

  it('the share: a sixteenth of the pool, at least a full request', () => {
    expect(instancesPerAddress(48)).toBe(16);
    expect(instancesPerAddress(500)).toBe(32);
    expect(instancesPerAddress(100_000)).toBe(6250);
  });

  it('one address cannot hold the whole pool: past its share its new instances are failed to that socket alone (reproduced: one address held all 500, every other refused); another address is served; closing makes room', { timeout: 60_000 }, async () => {
    const first = await ask('203.0.113.60', '1m', [...five('rsi', 'period', 30), ...five('ema-cross', 'fast', 4)]);
    expect(overShare(first)).toEqual([]);
    // 10 held: of these 7, the first 6 fit, the seventh is past the share.
    const second = await ask('203.0.113.60', '5m', [...five('rsi', 'period', 30), 'ema-cross', 'ema-cross:fast=4']);
    expect(overShare(second)).toEqual(['ema-cross:fast=4']);
    expect(second.closeCode).toBeUndefined();
    // An instance the address holds already counts once.
    expect(overShare(await ask('203.0.113.60', '1m', ['rsi:period=30', 'ema-cross']))).toEqual([]);
    // Another address has its own share (and joins the instances held: free).
    expect(overShare(await ask('198.51.100.60', '1m', [...five('rsi', 'period', 30), ...five('ema-cross', 'fast', 4)]))).toEqual([]);
    // The first socket's ten let go (the third still holds two of them): room for new ones.
    first.close();
    await new Promise((r) => setTimeout(r, 300));
    expect(overShare(await ask('203.0.113.60', '1m', ['rsi:period=40', 'rsi:period=41', 'ema-cross:fast=5', 'ema-cross:fast=6', 'ema-cross:fast=7', 'rsi', 'rsi:period=31']))).toEqual([]);
  });
});
