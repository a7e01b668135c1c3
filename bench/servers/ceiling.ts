/**
 * Reference server "ceiling": the least work this stack allows. uWebSockets.js used directly, native
 * topic pub/sub, each update serialized once, the `historical` snapshot built at most once per update
 * (and only when a client asks for it) from a cached serialization of the closed bars, kept as UTF-8
 * bytes and sent outside uWS's cork.
 */
import uWS from 'uWebSockets.js';
import type { Bar } from '../../engine/src/domain/bar.ts';
import { klineTopic, type SeriesId } from '../../engine/src/domain/series-id.ts';
import { liveCandleMessage, toWire } from '../../engine/src/domain/wire.ts';
import { startReferenceFeed } from './reference-feed.ts';
import { runServerProcess } from './server-entry.ts';

interface Snapshot {
  /** `{"type":"historical",...,"data":[` plus every bar but the newest, valid while the newest bar opens at `prefixFor`. */
  prefix: string;
  prefixFor: number;
  /** UTF-8 bytes of the whole message: uWS sends a buffer as is, a string it encodes per send (80 KB per client). */
  bytes: Buffer | undefined;
}

await runServerProcess(async (cfg) => {
  const started = performance.now();
  const snapshots = new Map<string, Snapshot>();
  let published = 0;
  const app = uWS.App();
  const feed = await startReferenceFeed({
    ...cfg,
    onBar: (id: SeriesId, bar: Bar) => {
      const snap = snapshots.get(id.key);
      if (snap) snap.bytes = undefined;
      app.publish(klineTopic(id), liveCandleMessage(id.symbol, id.interval, bar, undefined, Date.now()), false, false);
      published++;
    },
  });

  const snapshot = (id: SeriesId): Buffer | string => {
    const w = feed.window(id.key)!;
    let snap = snapshots.get(id.key);
    const newest = w[w.length - 1];
    if (!newest) return `{"type":"historical","symbol":"${id.symbol}","interval":"${id.interval}","data":[]}`;
    if (!snap || snap.prefixFor !== newest.openTime) {
      let prefix = `{"type":"historical","symbol":"${id.symbol}","interval":"${id.interval}","data":[`;
      for (let i = 0; i < w.length - 1; i++) prefix += JSON.stringify(toWire(w[i]!)) + ',';
      snap = { prefix, prefixFor: newest.openTime, bytes: undefined };
      snapshots.set(id.key, snap);
    }
    return (snap.bytes ??= Buffer.from(`${snap.prefix}${JSON.stringify(toWire(newest))}]}`));
  };

  const byPath = new Map(feed.series().map((id) => [`${id.symbol}:${id.interval}`, id]));
  app.ws<{ id: SeriesId; closed: boolean }>('/ws/:symbol', {
    compression: uWS.DISABLED,
    maxPayloadLength: 4 * 1024,
    idleTimeout: 120,
    maxBackpressure: cfg.maxBackpressureBytes,
    closeOnBackpressureLimit: 1,
    upgrade: (res, req, context) => {
      const interval = new URLSearchParams(req.getQuery() ?? '').get('interval') ?? '1m';
      const id = byPath.get(`${req.getParameter(0).toUpperCase()}:${interval}`);
      if (!id) return void res.writeStatus('404 Not Found').end('unknown series');
      res.upgrade({ id, closed: false }, req.getHeader('sec-websocket-key'), req.getHeader('sec-websocket-protocol'), req.getHeader('sec-websocket-extensions'), context);
    },
    open: (ws) => {
      // Not inside open: uWS corks it, an 80 KB snapshot overflows the cork buffer into the socket's
      // backpressure buffer, and that buffer keeps its capacity for the socket's life (~80 KiB per
      // client). Sent just after, the kernel takes it directly. Snapshot and subscribe stay in one turn.
      setImmediate(() => {
        const data = ws.getUserData();
        if (data.closed) return;
        ws.send(snapshot(data.id), false, false);
        ws.subscribe(klineTopic(data.id));
      });
    },
    close: (ws) => {
      ws.getUserData().closed = true;
    },
  });

  const listenSocket = await new Promise<uWS.us_listen_socket>((resolve, reject) =>
    app.listen('127.0.0.1', 0, (ls) => (ls ? resolve(ls) : reject(new Error('ceiling: listen failed')))),
  );
  return {
    port: uWS.us_socket_local_port(listenSocket),
    bootstrapMs: performance.now() - started,
    counters: () => ({ updatesIn: feed.updates, published }),
    stop: async () => {
      uWS.us_listen_socket_close(listenSocket);
      feed.close();
    },
  };
});
