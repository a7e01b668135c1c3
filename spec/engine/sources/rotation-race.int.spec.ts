import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import WebSocket, { WebSocketServer } from 'ws';
import { ConnectLimiter } from '../../../engine/src/sources/connect-limiter.ts';
import { ReconnectScout } from '../../../engine/src/sources/reconnect-scout.ts';
import { StreamShard } from '../../../engine/src/sources/stream-shard.ts';
import type { UpstreamEvent } from '../../../engine/src/sources/upstream-event.ts';
import { until } from '../../helpers/until.ts';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * A rotation races a reconnect: the exchange announces a shutdown (the shard dials a replacement) and
 * closes the old socket while the replacement is still subscribing, so the shard also schedules a
 * reconnect. Before: the replacement took over, then the reconnect's socket opened and took over too,
 * and the replacement was left open and subscribed, delivering every frame twice, watched by nothing,
 * until the exchange's 24 h cut (found by a review). Now the replacement is the reconnect: one socket.
 */
describe('a serverShutdown whose close races its replacement', () => {
  let wss: WebSocketServer | undefined;
  let shard: StreamShard | undefined;
  afterEach(async () => {
    shard?.stop();
    for (const c of wss?.clients ?? []) c.terminate();
    await new Promise((r) => wss?.close(r));
  });

  it('keeps one socket: the replacement is the reconnect, said as a connect with a resync', async () => {
    wss = new WebSocketServer({ port: 0, host: '127.0.0.1' });
    await new Promise((r) => wss!.on('listening', r));
    const sockets: WebSocket[] = [];
    wss.on('connection', (ws) => {
      const k = sockets.push(ws) - 1;
      ws.on('message', (d) => {
        const m = JSON.parse(String(d)) as { id: number };
        // The replacement answers its SUBSCRIBE late: the old socket is closed before it is ready.
        setTimeout(() => ws.readyState === WebSocket.OPEN && ws.send(JSON.stringify({ result: null, id: m.id })), k === 1 ? 300 : 10);
        if (k === 0) setTimeout(() => ws.send(JSON.stringify({ stream: 'x', data: { e: 'serverShutdown', E: Date.now() } })), 100);
      });
      if (k === 1) setTimeout(() => sockets[0]!.close(), 20);
    });
    const scout = new ReconnectScout<StreamShard>();
    const events: UpstreamEvent[] = [];
    const { port } = wss.address() as AddressInfo;
    // The reconnect's dial is due after the replacement took over (backoff 1.5 s, jittered down to half).
    shard = new StreamShard({ index: 0, wsUrl: `ws://127.0.0.1:${port}`, staleAfterMs: 600_000, rotateAfterMs: 3_600_000, limiter: new ConnectLimiter(), scout, emit: (e) => events.push(e), backoffInitialMs: 1500, backoffMaxMs: 1500 });
    shard.add(['btcusdt@kline_1m']);
    await until(() => events.filter((e) => e.type === 'connected').length >= 2, 5000, 'the replacement taking over');
    // Past the reconnect's backoff: nothing else dials.
    await sleep(2000);
    expect(events.map((e) => (e.type === 'connected' ? `connected resync=${e.resync}` : e.type))).toEqual(['connected resync=false', 'disconnected', 'connected resync=true']);
    expect(sockets).toHaveLength(2);
    expect(wss.clients.size).toBe(1);
    expect(shard.connected).toBe(true);
    // The shard no longer scouts: another shard going down scouts itself, rather than waiting for good.
    expect(scout.down({} as StreamShard, () => undefined)).toBe(true);
  }, 15_000);
});
