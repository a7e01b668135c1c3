import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Browser, chromium } from 'playwright-core';
import { startApp, type App } from '../../engine/src/app.ts';
import { silentLogger } from '../../engine/src/log.ts';
import { CHROMIUM_PATH, hasChromium } from '../helpers/services.ts';

/**
 * The original system's Next.js frontend runs on its own origin and fetches /candles and /symbols
 * from the engine's. A page served from another port does the same in real Chromium.
 */
describe.runIf(await hasChromium('cross-origin e2e'))('a frontend on another origin, in real Chromium', () => {
  let app: App;
  let strict: App;
  let page: Server;
  let pageOrigin: string;
  let browser: Browser;

  beforeAll(async () => {
    const opts = { source: 'sim' as const, port: 0, host: '127.0.0.1', symbols: ['BTCUSDT'], intervals: ['1m'], bufferSize: 50, historyOnConnect: 20, clientDir: '', log: silentLogger };
    page = createServer((_req, res) => res.writeHead(200, { 'content-type': 'text/html' }).end('<!doctype html><title>frontend</title>'));
    await new Promise<void>((r) => page.listen(0, '127.0.0.1', r));
    pageOrigin = `http://127.0.0.1:${(page.address() as AddressInfo).port}`;
    app = await startApp(opts);
    // Only some other origin is allowed here: the page's must be refused.
    strict = await startApp({ ...opts, corsOrigins: ['http://allowed.example'], allowedOrigins: ['http://allowed.example'] });
    await Promise.all([app.ready, strict.ready]);
    browser = await chromium.launch({ executablePath: CHROMIUM_PATH, args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'] });
  });
  afterAll(async () => {
    await browser?.close();
    await app?.stop();
    await strict?.stop();
    await new Promise((r) => page?.close(r));
  });

  /** In the page: fetch each path cross-origin (with a header that forces a preflight) and open a WebSocket. */
  const visit = async (engineUrl: string) => {
    const tab = await browser.newPage();
    try {
      await tab.goto(pageOrigin);
      return await tab.evaluate(async (base) => {
        const get = async (path: string) => {
          try {
            const r = await fetch(base + path, { headers: { 'x-requested-with': 'frontend' } });
            return { ok: r.ok, body: (await r.json()) as Record<string, unknown> };
          } catch (e) {
            return { ok: false, error: String(e) };
          }
        };
        const ws = await new Promise<string>((resolve) => {
          const s = new WebSocket(base.replace('http', 'ws') + '/ws/BTCUSDT?interval=1m');
          s.onmessage = (m) => {
            resolve(JSON.parse(String(m.data)).type);
            s.close();
          };
          s.onerror = () => resolve('error');
        });
        return { location: location.origin, symbols: await get('/symbols'), candles: await get('/candles/BTCUSDT/1m?limit=5'), ws };
      }, engineUrl);
    } finally {
      await tab.close();
    }
  };

  it('fetches /symbols and /candles and streams over WebSocket from the engine (CORS_ORIGINS=* by default)', async () => {
    const r = await visit(app.url);
    expect(r.location).toBe(pageOrigin);
    expect(r.location).not.toBe(new URL(app.url).origin);
    expect(r.symbols).toMatchObject({ ok: true, body: { configured: ['BTCUSDT'] } });
    expect(r.candles.ok).toBe(true);
    expect(r.candles.body?.candles).toHaveLength(5);
    expect(r.ws).toBe('historical');
  });

  it('is refused by the browser when the page origin is not in CORS_ORIGINS / ALLOWED_ORIGINS', async () => {
    const r = await visit(strict.url);
    expect(r.symbols.ok).toBe(false);
    expect(r.candles.ok).toBe(false);
    expect(r.ws).toBe('error');
  });
});
