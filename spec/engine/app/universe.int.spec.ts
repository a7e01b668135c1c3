import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { request } from 'undici';
import type { App } from '../../../engine/src/app.ts';
import { startTestApp } from '../../helpers/test-app.ts';
import { seriesId } from '../../../engine/src/domain/series-id.ts';
import { EngineClient } from '../../helpers/ws-client.ts';

const M = 60_000;

describe('SYMBOLS=*: the whole (simulated) universe always on', () => {
  let app: App;
  let client: EngineClient | undefined;
  let historicalAt = Infinity;
  let readyAt = 0;
  beforeAll(async () => {
    app = await startTestApp({
      source: 'sim',
      symbols: ['*'],
      intervals: ['1m', '5m'],
      bufferSize: 60,
      historyOnConnect: 60,
      seriesDir: '',
      streamsPerConnection: 200,
      simOptions: { pushIntervalMs: 200, clockSpeed: 30, universeSize: 250 },
    });
    // A client of one series arrives while the universe loads: it waits for that series only.
    const last = app.catalog.symbols().at(-1)!;
    client = new EngineClient(`${app.url.replace('http', 'ws')}/ws/${last}?interval=5m`);
    void client.until((x) => x.historical() !== undefined, 60_000, 'historical').then(() => (historicalAt = Date.now()));
    await app.ready;
    readyAt = Date.now();
  });
  afterAll(async () => {
    client?.close();
    await app?.stop();
  });

  it('keeps every trading symbol x interval live, each whole and equal to the simulator truth', async () => {
    const symbols = app.catalog.symbols();
    expect(symbols.length).toBe(250);
    expect(app.catalog.configured()).toEqual([...symbols]);
    const listing = (await (await request(`${app.url}/symbols`)).body.json()) as { configured: string[] };
    expect(listing.configured).toHaveLength(250);
    // Let a few closes come in live on top of the bootstrap.
    await new Promise((r) => setTimeout(r, 3000));
    for (const symbol of symbols) {
      for (const [interval, step] of [['1m', M], ['5m', 5 * M]] as const) {
        const bars = app.store.window(seriesId(symbol, interval)).last(1000);
        expect(bars.length, `${symbol} ${interval}`).toBeGreaterThanOrEqual(59);
        for (let i = 1; i < bars.length; i++) expect(bars[i]!.openTime - bars[i - 1]!.openTime, `${symbol} ${interval} hole`).toBe(step);
        const closed = bars.filter((b) => b.closed);
        expect(closed).toEqual(app.sim!.truth(symbol, interval, closed[0]!.openTime, closed.at(-1)!.openTime));
      }
    }
    const subscribed = app.sim!.subscriptions();
    expect(subscribed.flat()).toHaveLength(500);
    expect(subscribed.every((c) => c.length <= 200)).toBe(true);
    expect(app.sim!.stats.limitCloses).toBe(0);
    expect(app.lifecycle.counts()).toMatchObject({ live: 500, loading: 0, onDemand: 0, pinned: 500 });
    const metrics = await (await request(`${app.url}/metrics`)).body.text();
    expect(metrics).toMatch(/engine_series\{state="live"\} 500/);
    expect(metrics).toMatch(/engine_series_by_kind\{kind="configured"\} 500/);
    expect(metrics).toMatch(/engine_upstream_shards 3/);
  });

  it('served the early client its series ahead of the backlog, before the whole universe was loaded', async () => {
    await client!.until((x) => x.historical() !== undefined, 10_000, 'historical');
    expect(client!.messages[0]!.type).toBe('loading');
    expect(client!.historical()!.data.length).toBeGreaterThanOrEqual(59);
    expect(historicalAt).toBeLessThan(readyAt);
  });
});
