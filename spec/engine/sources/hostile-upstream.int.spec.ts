import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { WebSocketServer, type WebSocket } from 'ws';
import { StreamShards } from '../../../engine/src/sources/stream-shards.ts';
import type { UpstreamEvent } from '../../../engine/src/sources/upstream-event.ts';
import { until } from '../../helpers/until.ts';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** An exchange that misbehaves on every connection as `onConnection` says (found by an attacker-style probe of the upstream). */
async function hostile(onConnection: (ws: WebSocket) => void): Promise<{ url: string; connections: () => number; close: () => Promise<void> }> {
  const wss = new WebSocketServer({ port: 0, host: '127.0.0.1' });
  await new Promise((r) => wss.once('listening', r));
  let n = 0;
  wss.on('connection', (ws) => {
    n++;
    onConnection(ws);
  });
  return {
    url: `ws://127.0.0.1:${(wss.address() as AddressInfo).port}`,
    connections: () => n,
    close: () => new Promise((r) => wss.close(() => r(undefined))),
  };
}

describe('StreamShards against a hostile exchange', () => {
  let shards: StreamShards | undefined;
  let ex: Awaited<ReturnType<typeof hostile>> | undefined;
  const subs: Array<{ unsubscribe(): void }> = [];
  afterEach(async () => {
    for (const s of subs.splice(0)) s.unsubscribe();
    shards?.close();
    await ex?.close();
  });
  const start = (url: string, extra: Partial<ConstructorParameters<typeof StreamShards>[0]> = {}) => {
    const events: UpstreamEvent[] = [];
    shards = new StreamShards({ wsUrl: url, staleAfterMs: 60_000, rotateAfterMs: 3_600_000, backoffInitialMs: 50, backoffMaxMs: 400, maxStreamsPerConnection: 1, ...extra });
    // Ends with the shards (close() completes events$).
    const sub = shards.events$.subscribe((e) => events.push(e));
    subs.push(sub);
    shards.add(['btcusdt@kline_1m', 'ethusdt@kline_1m', 'solusdt@kline_1m']);
    return events;
  };

  it('backs off from an exchange that closes every socket as it opens (reproduced: 159 dials a minute, then locked out)', async () => {
    ex = await hostile((ws) => ws.close(1000));
    start(ex.url);
    await sleep(2500);
    // One shard dials for all, its backoff growing (waits of at least 25, 50, 100, 200, 200… ms): under
    // 16 in 2.5 s. Reset at each open, three shards redialled every 25-50 ms: over 100.
    expect(ex.connections()).toBeGreaterThanOrEqual(3);
    expect(ex.connections()).toBeLessThanOrEqual(16);
  });

  it('replaces a socket that sends only junk (reproduced: kept for good, clients stale with no end)', async () => {
    ex = await hostile((ws) => {
      const t = setInterval(() => ws.send('{"hello":1}'), 50);
      ws.on('close', () => clearInterval(t));
    });
    start(ex.url, { staleAfterMs: 500, maxStreamsPerConnection: 1024 });
    await until(() => ex!.connections() >= 2, 5000, 'the junk-only socket replaced');
  });

  it('keeps a quiet socket the exchange still pings, and replaces one that falls dead (nothing at all, not even a ping)', async () => {
    // Answers each SUBSCRIBE and sends one kline per stream, then nothing more: a quiet market. `pings` says whether it pings.
    const quiet = (pings: boolean) => (ws: WebSocket) => {
      const t = pings ? setInterval(() => ws.ping(), 100) : undefined;
      ws.on('close', () => clearInterval(t));
      ws.on('message', (raw) => {
        const req = JSON.parse(String(raw)) as { method: string; params: string[]; id: number };
        ws.send(JSON.stringify({ result: null, id: req.id }));
        const t0 = Math.floor(Date.now() / 60_000) * 60_000;
        for (const stream of req.method === 'SUBSCRIBE' ? req.params : []) {
          const symbol = stream.split('@')[0]!.toUpperCase();
          const k = { t: t0, T: t0 + 59_999, s: symbol, i: '1m', f: 1, L: 2, o: '1', c: '1', h: '1', l: '1', v: '1', n: 2, x: false, q: '1', V: '0', Q: '0', B: '0' };
          ws.send(JSON.stringify({ stream, data: { e: 'kline', E: Date.now(), s: symbol, k } }));
        }
      });
    };
    ex = await hostile(quiet(true));
    // Dead after 2.5 s with nothing, pinged every 0.1 s: a loaded machine's stall does not pass for a dead socket.
    let events = start(ex.url, { staleAfterMs: 500, deadAfterMs: 2500, maxStreamsPerConnection: 1024 });
    await until(() => events.some((e) => e.type === 'kline'), 5000, 'a kline');
    await sleep(5000);
    expect(ex.connections()).toBe(1);
    shards!.close();
    await ex.close();
    ex = await hostile(quiet(false));
    events = start(ex.url, { staleAfterMs: 500, deadAfterMs: 2500, maxStreamsPerConnection: 1024 });
    await until(() => events.some((e) => e.type === 'kline'), 5000, 'a kline');
    await until(() => events.some((e) => e.type === 'disconnected' && e.reason === 'dead'), 8000, 'the dead socket replaced');
  });

  it('takes klines only of the streams the socket asked for, named by their envelope (reproduced: impostor frames moved a chart, foreign ones kept a silent socket live)', async () => {
    const kline = (stream: string, symbol: string) => {
      const t0 = Math.floor(Date.now() / 60_000) * 60_000;
      const k = { t: t0, T: t0 + 59_999, s: symbol, i: '1m', f: 1, L: 2, o: '2000', c: '2000', h: '2000', l: '2000', v: '1', n: 2, x: false, q: '1', V: '0', Q: '0', B: '0' };
      return JSON.stringify({ stream, data: { e: 'kline', E: Date.now(), s: symbol, k } });
    };
    ex = await hostile((ws) => {
      ws.on('message', (raw) => ws.send(JSON.stringify({ result: null, id: (JSON.parse(String(raw)) as { id: number }).id })));
      // A stream nobody asked for; one whose envelope names it but whose kline is BTCUSDT's; one that
      // names a subscribed stream with another symbol's kline.
      const t = setInterval(() => {
        ws.send(kline('zz0usdt@kline_1m', 'ZZ0USDT'));
        ws.send(kline('zz0usdt@kline_1m', 'BTCUSDT'));
        ws.send(kline('btcusdt@kline_1m', 'ETHUSDT'));
      }, 50);
      ws.on('close', () => clearInterval(t));
    });
    const malformed: string[] = [];
    const events = start(ex.url, { staleAfterMs: 500, maxStreamsPerConnection: 1024, onMalformed: (e) => malformed.push(e.info.reason) });
    // The subscribed streams are silent: the socket is replaced as one delivering nothing.
    await until(() => ex!.connections() >= 2, 5000, 'the socket with only foreign klines replaced');
    expect(events.filter((e) => e.type === 'kline')).toEqual([]);
    expect(malformed).toContain('stream not subscribed');
    expect(malformed.some((r) => /does not match/.test(r))).toBe(true);
  });

  it('closes a socket that sends a frame over 1 MiB instead of taking it in (reproduced: 100 MiB frames held 450 MB)', async () => {
    ex = await hostile((ws) => ws.send('x'.repeat(2 << 20)));
    const logs: string[] = [];
    const events = start(ex.url, { maxStreamsPerConnection: 1024, log: (_l, msg, f) => logs.push(`${msg} ${JSON.stringify(f)}`) });
    await until(() => events.some((e) => e.type === 'disconnected'), 5000, 'a disconnect');
    expect(logs.join('\n')).toMatch(/upstream socket error .*Max payload size exceeded/);
  });
});
