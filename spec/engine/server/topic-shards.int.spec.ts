import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { App } from '../../../engine/src/app.ts';
import { startTestApp } from '../../helpers/test-app.ts';
import { EngineClient } from '../../helpers/ws-client.ts';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const sentLater = (app: App) => Number(/engine_ws_fanout_later_total (\d+)/.exec(app.metrics.render())?.[1] ?? NaN);

/**
 * A topic's subscribers beyond a shard get its updates in later turns (topic-shards.ts). With shards
 * of 2 sockets, 9 clients of one series, joining while updates flow: each gets every update after
 * its snapshot, once, in order, as the others do.
 */
describe('a series fanned out in shards, against the simulated exchange', () => {
  let app: App;
  const clients: EngineClient[] = [];

  beforeAll(async () => {
    app = await startTestApp({ source: 'sim', symbols: ['BTCUSDT'], intervals: ['1m'], bufferSize: 100, historyOnConnect: 50, seriesDir: '', topicShardSize: 2, simOptions: { pushIntervalMs: 50, clockSpeed: 60 } });
    await app.ready;
  });
  afterAll(async () => {
    for (const c of clients) c.close();
    await app?.stop();
  });

  it('gives every client each update after its snapshot exactly once, in order, the same as the others', async () => {
    const ws = app.url.replace('http', 'ws');
    for (let i = 0; i < 9; i++) {
      const c = new EngineClient(`${ws}/ws/BTCUSDT?interval=1m`);
      clients.push(c);
      await c.until((x) => x.historical() !== undefined, 10_000, 'historical');
      await sleep(30);
    }
    const last = clients.at(-1)!;
    await last.until((c) => c.live().length >= 20, 15_000, '20 live candles on the last client');
    // The others have had at least as long.
    await sleep(300);
    const byOffset = new Map<number, string>();
    for (const c of clients) {
      const start = c.historical()!.offset!;
      const live = c.live();
      expect(live.length).toBeGreaterThanOrEqual(20);
      // Consecutive from the snapshot's position: none missing, none twice, none from before it.
      expect(live.map((m) => m.offset)).toEqual(live.map((_, i) => start + 1 + i));
      for (const m of live) {
        const { at: _at, ...same } = m;
        const text = JSON.stringify(same);
        expect(byOffset.get(m.offset!) ?? text).toBe(text);
        byOffset.set(m.offset!, text);
      }
      expect(c.closeCode).toBeUndefined();
    }
    // 9 sockets in shards of 2: most of every update went out in later turns.
    expect(sentLater(app)).toBeGreaterThan(20);
  });
});
