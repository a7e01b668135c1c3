import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createConnection } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { request } from 'undici';
import WebSocket from 'ws';
import { startApp, type App } from '../../../engine/src/app.ts';
import { silentLogger } from '../../../engine/src/log.ts';
import { until } from '../../helpers/until.ts';

const start = (extra: Parameters<typeof startApp>[0] = {}) =>
  startApp({ source: 'sim', port: 0, host: '127.0.0.1', symbols: ['BTCUSDT'], intervals: ['1m'], bufferSize: 50, historyOnConnect: 20, clientDir: '', log: silentLogger, simOptions: { pushIntervalMs: 50, clockSpeed: 60 }, ...extra });

async function send(app: App, path: string, method = 'GET', headers: Record<string, string> = {}) {
  const res = await request(`${app.url}${path}`, { method: method as 'GET', headers });
  const body = await res.body.text();
  return { status: res.statusCode, headers: res.headers, body };
}

/** Raw HTTP/1.1 on one connection: what a proxy or curl sees, with no client library smoothing it over. */
function raw(app: App, text: string, timeoutMs = 3000): Promise<string> {
  const { port } = new URL(app.url);
  return new Promise((resolve) => {
    const socket = createConnection({ host: '127.0.0.1', port: Number(port) });
    let got = '';
    const done = () => {
      clearTimeout(timer);
      socket.destroy();
      resolve(got);
    };
    const timer = setTimeout(done, timeoutMs);
    socket.on('data', (d) => (got += d.toString('latin1')));
    socket.on('end', done);
    socket.on('error', done);
    socket.write(text);
  });
}

function openWs(url: string, headers: Record<string, string>): Promise<{ opened: boolean; status?: number }> {
  return new Promise((resolve) => {
    const ws = new WebSocket(url, { headers });
    ws.on('open', () => {
      ws.close();
      resolve({ opened: true });
    });
    ws.on('unexpected-response', (_req, res) => {
      resolve({ opened: false, status: res.statusCode });
      res.resume();
    });
    ws.on('error', () => resolve({ opened: false }));
  });
}

const PUBLIC = ['/symbols', '/health', '/candles/BTCUSDT/1m?limit=3', '/series'];

describe('HTTP edges with the defaults (CORS_ORIGINS=*, no ALLOWED_ORIGINS)', () => {
  let app: App;
  beforeAll(async () => {
    app = await start();
    await app.ready;
    // Ready is the bootstrap; /health is ok only once a live frame came too. Comparing HEAD with GET
    // needs a status that holds between the two requests (CI once read 503 then 200).
    await until(async () => (await send(app, '/health')).status === 200, 10_000, '/health 200');
  });
  afterAll(async () => {
    await app?.stop();
  });

  it('answers HEAD like GET: same status and headers, no body (was 404 with Content-Length 2^63)', async () => {
    for (const path of [...PUBLIC, '/', '/no/such/route']) {
      const get = await send(app, path);
      const head = await send(app, path, 'HEAD');
      expect(head.status, path).toBe(get.status);
      expect(head.headers['content-type'], path).toBe(get.headers['content-type']);
      expect(head.headers['access-control-allow-origin'], path).toBe(get.headers['access-control-allow-origin']);
      expect(head.headers['content-length'], path).toBe('0');
      expect(head.body).toBe('');
    }
  });

  it('ends a HEAD answer on the wire and closes its connection, as every answer (was held open, waiting for a body, until the client left: 19,980 held HEADs took every file descriptor of an engine)', async () => {
    const t0 = Date.now();
    // raw() gives up after 10 s; the engine's close ends it before.
    const text = await raw(app, 'HEAD /symbols HTTP/1.1\r\nHost: x\r\n\r\n', 10_000);
    expect(Date.now() - t0).toBeLessThan(5000);
    expect(text).toMatch(/^HTTP\/1\.1 200 /);
    expect(text.endsWith('\r\n\r\n')).toBe(true);
    expect(text).toMatch(/\r\nContent-Length: 0\r\n/i);
    expect(text).toMatch(/\r\nConnection: close\r\n/i);
    // And a client library doing HEAD then GET gets both.
    for (let i = 0; i < 3; i++) {
      expect((await send(app, '/symbols', 'HEAD')).status).toBe(200);
      expect((await send(app, '/symbols')).status).toBe(200);
    }
  });

  it('sends CORS headers on the public GETs and answers the OPTIONS preflight (was 404 and no header)', async () => {
    const origin = { origin: 'http://frontend.example:3000' };
    for (const path of PUBLIC) {
      const get = await send(app, path, 'GET', origin);
      expect(get.headers['access-control-allow-origin'], path).toBe('*');
      const pre = await send(app, path, 'OPTIONS', { ...origin, 'access-control-request-method': 'GET', 'access-control-request-headers': 'x-requested-with' });
      expect(pre.status, path).toBe(200);
      expect(pre.headers['access-control-allow-origin']).toBe('*');
      expect(pre.headers['access-control-allow-methods']).toBe('GET, HEAD, OPTIONS');
      expect(pre.headers['access-control-allow-headers']).toBe('x-requested-with');
      expect(pre.headers['content-length']).toBe('0');
    }
  });

  it('answers other methods on known routes with 405 and Allow (was 404); unknown paths stay 404', async () => {
    for (const method of ['POST', 'PUT', 'DELETE', 'PATCH']) {
      for (const path of PUBLIC) {
        const r = await send(app, path, method);
        expect(r.status, `${method} ${path}`).toBe(405);
        expect(r.headers.allow).toBe('GET, HEAD, OPTIONS');
        expect(JSON.parse(r.body).error).toMatch(new RegExp(`method ${method} not allowed`));
      }
    }
    // Unknown, and the client's and the WebSocket's paths with other methods: a JSON 404 (was an empty body).
    for (const [method, path] of [['POST', '/no/such/route'], ['POST', '/'], ['OPTIONS', '/nonexistent'], ['DELETE', '/ws/BTCUSDT'], ['OPTIONS', '/ws/BTCUSDT']]) {
      const r = await send(app, path!, method);
      expect(r.status, `${method} ${path}`).toBe(404);
      expect(String(r.headers['content-type']), `${method} ${path}`).toMatch(/json/);
      expect(JSON.parse(r.body).error).toBe(`not found: ${method} ${path}`);
    }
    // GET still works after all that.
    expect((await send(app, '/symbols')).status).toBe(200);
  });

  it('answers a plain GET on the WebSocket route 426 with Upgrade, in JSON (was 404 not found)', async () => {
    const r = await send(app, '/ws/BTCUSDT?interval=1m');
    expect(r.status).toBe(426);
    expect(r.headers.upgrade).toBe('websocket');
    // Not cached by a proxy in front, as every other JSON refusal.
    expect(r.headers['cache-control']).toBe('no-store');
    expect(JSON.parse(r.body).error).toMatch(/\/ws\/BTCUSDT is a WebSocket endpoint/);
  });

  it('answers a WebSocket upgrade to a path the socket route does not match 404, naming the shape (was 426 "connect with a WebSocket")', async () => {
    const base = app.url.replace('http', 'ws');
    for (const path of ['/ws/BTCUSDT/?interval=1m', '/ws/?interval=1m', '/ws/BTCUSDT/1m']) {
      const got = await new Promise<{ status: number; body: string }>((resolve, reject) => {
        const ws = new WebSocket(base + path);
        ws.on('open', () => reject(new Error(`${path} opened`)));
        ws.on('error', reject);
        ws.on('unexpected-response', (_req, res) => {
          let body = '';
          res.on('data', (d: Buffer) => (body += d.toString()));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
        });
      });
      expect(got.status, path).toBe(404);
      expect(JSON.parse(got.body).error, path).toMatch(/^no WebSocket route at \/ws\/.*: connect to \/ws\/\{SYMBOL\}\?interval=/);
    }
    // The right path still opens.
    expect(await openWs(`${base}/ws/BTCUSDT?interval=1m`, {})).toEqual({ opened: true });
  });

  it('accepts WebSocket upgrades from any origin when ALLOWED_ORIGINS is unset', async () => {
    const ws = app.url.replace('http', 'ws') + '/ws/BTCUSDT?interval=1m';
    expect(await openWs(ws, { origin: 'http://anywhere.example' })).toEqual({ opened: true });
  });
});

describe('HTTP edges with CORS_ORIGINS and ALLOWED_ORIGINS lists', () => {
  let app: App;
  const allowed = 'http://app.example:3000';
  beforeAll(async () => {
    app = await start({ corsOrigins: [allowed], allowedOrigins: [allowed] });
    await app.ready;
  });
  afterAll(async () => {
    await app?.stop();
  });

  it('echoes an allowed origin with Vary: Origin and gives a foreign one no CORS header', async () => {
    const ok = await send(app, '/symbols', 'GET', { origin: allowed });
    expect(ok.headers['access-control-allow-origin']).toBe(allowed);
    expect(ok.headers.vary).toBe('Origin');
    const foreign = await send(app, '/symbols', 'GET', { origin: 'http://evil.example' });
    expect(foreign.status).toBe(200);
    expect(foreign.headers['access-control-allow-origin']).toBeUndefined();
    const pre = await send(app, '/candles/BTCUSDT/1m', 'OPTIONS', { origin: 'http://evil.example', 'access-control-request-method': 'GET' });
    expect(pre.headers['access-control-allow-origin']).toBeUndefined();
  });

  it('refuses a WebSocket upgrade from a foreign origin with 403, accepts the allowed one and clients without Origin', async () => {
    const ws = app.url.replace('http', 'ws') + '/ws/BTCUSDT?interval=1m';
    expect(await openWs(ws, { origin: 'http://evil.example' })).toEqual({ opened: false, status: 403 });
    expect(await openWs(ws, { origin: allowed })).toEqual({ opened: true });
    expect(await openWs(ws, {})).toEqual({ opened: true });
    const metrics = await send(app, '/metrics');
    expect(metrics.body).toMatch(/engine_ws_origin_refused_total 1/);
  });
});

describe('HTTP edges with the web client built', () => {
  let app: App;
  let dir: string;
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'client-'));
    writeFileSync(join(dir, 'index.html'), '<!doctype html><title>chart</title>');
    app = await start({ clientDir: dir });
    await app.ready;
  });
  afterAll(async () => {
    await app?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it("answers a GET no API route matches under the API's paths with a JSON 404 naming the routes, not the chart's page (was 200 text/html)", async () => {
    for (const path of ['/candles/BTCUSDT', '/candles/', '/candles/BTCUSDT/1m/extra', '/series/', '/series/rsi', '/series/rsi/BTCUSDT', '/api/v3/klines', '/health/', '/metrics/x']) {
      const r = await send(app, path);
      expect(r.status, path).toBe(404);
      expect(String(r.headers['content-type']), path).toMatch(/json/);
      expect(JSON.parse(r.body).error, path).toMatch(/^no API route at .*: the routes are GET \/candles\/\{SYMBOL\}\/\{interval\}/);
    }
    // The chart's own pages still load.
    for (const path of ['/', '/index.html', '/chart']) {
      const r = await send(app, path);
      expect(r.status, path).toBe(200);
      expect(r.body, path).toContain('<title>chart</title>');
    }
    expect((await send(app, '/candles/BTCUSDT/1m?limit=3')).status).toBe(200);
  });
});
