import { Redis } from 'ioredis';
import WebSocket from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type IngestNode, startIngest } from '../../../engine/src/cluster/ingest-node.ts';
import { silentLogger } from '../../../engine/src/log.ts';
import { deletePrefix } from '../../helpers/redis-keys.ts';
import { hasRedis, REDIS_URL } from '../../helpers/services.ts';
import { until } from '../../helpers/until.ts';

/**
 * An ingest node serves its own port's clients too, without positions: the cluster's are in Redis,
 * and a client resumes on an edge. Its candles went out so, but its derived points carried a made-up
 * position (an epoch of this node's memory, offset 0, never advanced): a client resuming from it
 * would have been told a position no edge knows. Found by a review. The real Redis (DB 15), the
 * leading ingest node in this process on the built-in simulator.
 */
const redisUp = await hasRedis("an ingest node's own port: no positions");

describe.runIf(redisUp)("an ingest node's own port: no positions", () => {
  const prefix = `spec-ingest-port-${process.pid}-${Date.now()}:`;
  let ingest: IngestNode;
  let ws: WebSocket | undefined;

  beforeAll(async () => {
    ingest = await startIngest({
      redisUrl: REDIS_URL,
      redisKeyPrefix: prefix,
      source: 'sim',
      simOptions: { symbols: ['BTCUSDT'], pushIntervalMs: 100, clockSpeed: 60 },
      leaseTtlMs: 3000,
      symbols: ['BTCUSDT'],
      intervals: ['1m'],
      port: 0,
      host: '127.0.0.1',
      clientDir: '',
      seriesDir: 'series',
      bufferSize: 200,
      historyOnConnect: 50,
      log: silentLogger,
    });
    await ingest.app.ready;
  }, 60_000);
  afterAll(async () => {
    ws?.terminate();
    await ingest?.stop();
    const r = new Redis(REDIS_URL);
    await deletePrefix(r, prefix);
    r.disconnect();
  }, 30_000);

  it('sends historical, live_candle and series_point without epoch or offset', async () => {
    await until(() => ingest.lease.state.leader, 10_000, 'the node leads');
    const msgs: Array<Record<string, unknown>> = [];
    ws = new WebSocket(`${ingest.app.url.replace('http', 'ws')}/ws/BTCUSDT?interval=1m&series=rsi`);
    ws.on('message', (d) => msgs.push(JSON.parse(String(d)) as Record<string, unknown>));
    const has = (t: string) => msgs.some((m) => m.type === t);
    await until(() => has('historical') && has('live_candle') && has('series_point'), 30_000, 'a snapshot, a candle and a point');
    const positioned = msgs.filter((m) => 'epoch' in m || 'offset' in m).map((m) => ({ type: m.type, epoch: m.epoch, offset: m.offset }));
    expect(positioned).toEqual([]);
  }, 60_000);
});
