/**
 * Reference server "ws-baseline": what a typical Node developer writes. The `ws` package's server,
 * a Map from series to its set of sockets, each update stringified once and sent in a loop, the
 * `historical` snapshot stringified for every client that connects. No backpressure policy.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { WebSocketServer, type WebSocket } from 'ws';
import type { Bar } from '../../engine/src/domain/bar.ts';
import type { SeriesId } from '../../engine/src/domain/series-id.ts';
import { toWire } from '../../engine/src/domain/wire.ts';
import { startReferenceFeed } from './reference-feed.ts';
import { runServerProcess } from './server-entry.ts';

await runServerProcess(async (cfg) => {
  const started = performance.now();
  const subscribers = new Map<string, Set<WebSocket>>();
  let sent = 0;
  const feed = await startReferenceFeed({
    ...cfg,
    onBar: (id: SeriesId, bar: Bar) => {
      const json = JSON.stringify({ type: 'live_candle', symbol: id.symbol, interval: id.interval, ...toWire(bar) });
      for (const socket of subscribers.get(id.key) ?? []) {
        socket.send(json);
        sent++;
      }
    },
  });

  const http = createServer((_req, res) => res.writeHead(404).end());
  const wss = new WebSocketServer({ server: http, perMessageDeflate: false });
  wss.on('connection', (socket, req) => {
    const url = new URL(req.url ?? '/', 'http://x');
    const symbol = decodeURIComponent(url.pathname.split('/')[2] ?? '').toUpperCase();
    const interval = url.searchParams.get('interval') ?? '1m';
    const key = `${symbol}:${interval}`;
    const window = feed.window(key);
    if (!url.pathname.startsWith('/ws/') || !window) {
      socket.send(JSON.stringify({ type: 'error', message: `unknown series ${key}` }));
      return void socket.close(4000, 'bad request');
    }
    let set = subscribers.get(key);
    if (!set) subscribers.set(key, (set = new Set()));
    set.add(socket);
    socket.send(JSON.stringify({ type: 'historical', symbol, interval, data: window.map(toWire) }));
    socket.on('close', () => set.delete(socket));
    socket.on('error', () => socket.terminate());
  });
  await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
  return {
    port: (http.address() as AddressInfo).port,
    bootstrapMs: performance.now() - started,
    counters: () => ({ updatesIn: feed.updates, sent }),
    stop: async () => {
      feed.close();
      for (const c of wss.clients) c.terminate();
      wss.close();
      await new Promise<void>((r) => http.close(() => r()));
    },
  };
});
