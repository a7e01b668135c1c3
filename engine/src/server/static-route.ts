import type HyperExpress from 'hyper-express';
import type { Logger } from '../log.ts';
import { headFrom } from './http-edges.ts';
import { sendJson } from './send-json.ts';
import { echo } from '../domain/echo.ts';
import { apiPathMiss } from './api-path-miss.ts';
import { loadStaticFiles } from './static-files.ts';
import type { RequestRation } from './request-ration.ts';

/**
 * The built web client on every path no other route answers (registered last). Paths without
 * a dot fall back to index.html so the client's own routes load, but for the API's (apiPathMiss: a
 * JSON 404 naming the routes). Counted in the per-address ration.
 */
export function registerStaticRoute(server: HyperExpress.Server, clientDir: string, log: Logger, ration?: RequestRation): void {
  const files = loadStaticFiles(clientDir);
  if (files.size === 0) log.warn('web client not built: / serves a placeholder (run npm run build:client)', { dir: clientDir });
  const serve = (req: HyperExpress.Request, res: HyperExpress.Response) => {
    // In the ration too: pipelined requests for a 270 KB asset on 4 connections that never read
    // held ~1.1 GB of answers (an attacker-style probe); the ration's burst bounds what one address queues.
    if (ration && !ration(req, res)) return;
    // The socket route without an upgrade (a proxy that drops `Upgrade`, a curl): said so, not a 404
    // that sends whoever debugs it the wrong way (an attacker-style probe).
    if (req.path.startsWith('/ws/')) {
      // A WebSocket upgrade here missed the route's shape (`/ws/BTCUSDT/`, `/ws/`, `/ws/BTCUSDT/1m`):
      // told so, not to use a WebSocket it already uses (a review).
      if (/\bwebsocket\b/i.test(req.headers.upgrade ?? '')) {
        return sendJson(res, 404, { error: `no WebSocket route at ${echo(req.path, 100)}: connect to /ws/{SYMBOL}?interval=…, e.g. /ws/BTCUSDT?interval=1m` });
      }
      res.header('upgrade', 'websocket').header('connection', 'Upgrade');
      return sendJson(res, 426, { error: `${echo(req.path, 100)} is a WebSocket endpoint: connect with a WebSocket (Upgrade: websocket)` });
    }
    const miss = apiPathMiss(req.path);
    if (miss) return sendJson(res, 404, { error: miss });
    const file = files.get(req.path) ?? (req.path.includes('.') ? undefined : files.get('/index.html'));
    if (!file) {
      if (files.size === 0 && req.path === '/') return void res.type('html').send('<h1>kline-engine</h1><p>The web client is not built. Run <code>npm run build:client</code>.</p>');
      return sendJson(res, 404, { error: `not found: ${echo(req.path, 100)}` });
    }
    res.header('content-type', file.type).header('cache-control', file.immutable ? 'public, max-age=31536000, immutable' : 'no-cache');
    res.send(file.body);
  };
  server.get('/*', serve);
  server.head('/*', headFrom(serve));
  // Any other method on a path no route answers (POST /, OPTIONS /ws/…): JSON, as every other refusal,
  // not hyper-express's empty 404.
  // Counted as any request (an attacker-style probe: uncounted, a POST flood was answered whole).
  server.set_not_found_handler((req, res) => {
    if (ration && !ration(req, res)) return;
    sendJson(res, 404, { error: `not found: ${req.method} ${echo(req.path, 100)}` });
  });
}
