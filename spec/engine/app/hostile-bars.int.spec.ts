import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { lastValueFrom, toArray } from 'rxjs';
import WebSocket, { WebSocketServer } from 'ws';
import type { App } from '../../../engine/src/app.ts';
import { seriesId } from '../../../engine/src/domain/series-id.ts';
import { BinanceRest } from '../../../engine/src/sources/binance-rest.ts';
import { type SimExchange, startSimExchange } from '../../../engine/sim/sim-exchange.ts';
import { startTestApp } from '../../helpers/test-app.ts';
import { until } from '../../helpers/until.ts';

const Y2100 = Date.UTC(2100, 0, 1);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Bars no exchange can mean, found by an attacker-style probe of the upstream. One kline dated 2100
 * stood as the newest bar of its series: every real update after it was dropped as older, and the
 * series froze for good while /health said ok. Such bars are skipped (and counted) now.
 */
describe('bars from the future or with prices not above 0', () => {
  let sim: SimExchange;
  let proxy: WebSocketServer;
  let app: App;
  let injected = 0;
  beforeAll(async () => {
    sim = await startSimExchange({ symbols: ['BTCUSDT'], pushIntervalMs: 100 });
    // Between the engine and the simulator: passes everything, and once live, slips in one BTCUSDT 1m kline of 2100.
    proxy = new WebSocketServer({ port: 0, host: '127.0.0.1' });
    await new Promise((r) => proxy.once('listening', r));
    proxy.on('connection', (down, req) => {
      const up = new WebSocket(`${sim.wsUrl}${req.url}`);
      const queued: string[] = [];
      up.on('open', () => queued.splice(0).forEach((m) => up.send(m)));
      down.on('message', (m) => (up.readyState === WebSocket.OPEN ? up.send(m.toString()) : queued.push(m.toString())));
      up.on('message', (m) => {
        const text = m.toString();
        down.send(text);
        if (injected === 0 && app && text.includes('"btcusdt@kline_1m"')) {
          injected++;
          const f = JSON.parse(text) as { data: { E: number; k: { t: number; T: number } } };
          f.data.E = Y2100 + 5;
          f.data.k.t = Y2100;
          f.data.k.T = Y2100 + 59_999;
          down.send(JSON.stringify(f));
          // Then two frames of today's bar in one burst, each stamped 2100: the second confirmed the first as a clock sample.
          const g = JSON.parse(text) as { data: { E: number } };
          g.data.E = Y2100 + 10;
          down.send(JSON.stringify(g));
          g.data.E = Y2100 + 20;
          down.send(JSON.stringify(g));
        }
      });
      const end = () => (up.terminate(), down.terminate());
      up.on('close', end);
      down.on('close', end);
    });
    app = await startTestApp({ source: 'binance', restUrl: sim.restUrl, wsUrl: `ws://127.0.0.1:${(proxy.address() as AddressInfo).port}`, symbols: ['BTCUSDT'], intervals: ['1m'], bufferSize: 100 });
    await app.ready;
  });
  afterAll(async () => {
    await app?.stop();
    proxy?.close();
    await sim?.close();
  });

  it('skips a live kline opening after the exchange time, takes no event time past its own bar as the clock, and the series goes on', async () => {
    await until(() => injected === 1, 10_000, 'the 2100 kline sent');
    const win = app.store.window(seriesId('BTCUSDT', '1m'));
    const before = win.last(1)[0]!;
    await sleep(1500);
    const newest = win.last(1)[0]!;
    expect(newest.openTime).toBeLessThanOrEqual(sim.now());
    // Still live: the forming bar moved on after the bad frame.
    expect(JSON.stringify(newest)).not.toBe(JSON.stringify(before));
    expect(Number(/^engine_upstream_malformed_frames_total (\d+)$/m.exec(app.metrics.render())?.[1])).toBeGreaterThanOrEqual(1);
    // The clock took none of the 2100 stamps (the simulator runs on the host's clock).
    expect(Math.abs(Number(/^engine_exchange_clock_skew_ms (-?\d+)$/m.exec(app.metrics.render())?.[1]))).toBeLessThan(60_000);
  });
});

describe('REST klines rows no exchange can mean', () => {
  let server: Server;
  let body = '[]';
  /** 'drip': the body a byte every 100 ms, never ending; 'huge': about 6 MB of rows. */
  let mode: 'plain' | 'drip' | 'huge' = 'plain';
  let requests = 0;
  beforeAll(async () => {
    server = createServer((_req, res) => {
      requests++;
      res.writeHead(200, { 'content-type': 'application/json' });
      if (mode === 'plain') return res.end(body);
      if (mode === 'huge') return res.end(`[${Array.from({ length: 100_000 }, () => JSON.stringify(row(0, '9.0'))).join(',')}]`);
      res.write('[');
      const t = setInterval(() => res.write(' '), 100);
      res.on('close', () => clearInterval(t));
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  });
  afterAll(() => new Promise<void>((r) => server.close(() => r())));
  const row = (t: number, low: string) => [t, '10.0', '11.0', low, '10.5', '1.0', t + 59_999, '10.0', 3, '0.5', '5.0', '0'];

  it('refuses a page with a row opening after the exchange time, a price not above 0 or an open time off the interval (reproduced: the snapshot ended in 2100; 999 negative candles served; a bar 7 ms off stayed forming for good)', async () => {
    const rest = new BinanceRest({ baseUrl: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, weightBudget: 6000, concurrency: 1, maxAttempts: 1 });
    const now = Math.floor(Date.now() / 60_000) * 60_000;
    try {
      body = JSON.stringify([row(now - 60_000, '9.0'), row(now, '9.0')]);
      expect(await rest.klines({ symbol: 'BTCUSDT', interval: '1m', limit: 2 })).toHaveLength(2);
      body = JSON.stringify([row(now - 60_000, '9.0'), row(Y2100, '9.0')]);
      await expect(rest.klines({ symbol: 'BTCUSDT', interval: '1m', limit: 2 })).rejects.toThrow(/after the exchange's time/);
      body = JSON.stringify([row(now - 60_000, '-9.0'), row(now, '9.0')]);
      await expect(rest.klines({ symbol: 'BTCUSDT', interval: '1m', limit: 2 })).rejects.toThrow(/price is not positive/);
      body = JSON.stringify([row(now - 60_000 + 7, '9.0'), row(now, '9.0')]);
      await expect(rest.klines({ symbol: 'BTCUSDT', interval: '1m', limit: 2 })).rejects.toThrow(/not the start of a 1m bar/);
    } finally {
      await rest.close();
    }
  });

  it('ends a range whose pages do not move on, and drops rows outside each page (reproduced: one full page repeated took a warm-store bootstrap to 2.5 GB in 90 s)', async () => {
    const rest = new BinanceRest({ baseUrl: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, weightBudget: 6000, concurrency: 1, maxAttempts: 1 });
    const before = requests;
    try {
      const now = Math.floor(Date.now() / 60_000) * 60_000;
      // The same full page whatever startTime asks: its last 1000 minutes.
      const first = now - 999 * 60_000;
      body = JSON.stringify(Array.from({ length: 1000 }, (_, i) => row(first + i * 60_000, '9.0')));
      const all = async (from: number, to?: number) => (await lastValueFrom(rest.range$('BTCUSDT', '1m', from, to).pipe(toArray()))).flat();
      // Asked from 5,000 minutes back: the first page's rows, then the page that did not move past them ends the range.
      expect((await all(now - 5000 * 60_000)).map((b) => b.openTime)).toEqual(JSON.parse(body).map((r: number[]) => r[0]));
      expect(requests - before).toBe(2);
      // Asked from the middle of the page: the rows before it (the exchange ignored startTime) are not taken.
      const mid = await all(first + 500 * 60_000);
      expect(mid).toHaveLength(500);
      expect(mid[0]!.openTime).toBe(first + 500 * 60_000);
      expect(requests - before).toBe(4);
    } finally {
      body = '[]';
      await rest.close();
    }
  });

  it('gives up on a body dripped forever, and on one too big, as it comes (reproduced: the engine never started; a 1 GB answer took 5 GB)', async () => {
    const rest = new BinanceRest({ baseUrl: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, weightBudget: 6000, concurrency: 1, maxAttempts: 1, timeoutMs: 300 });
    const patient = new BinanceRest({ baseUrl: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, weightBudget: 6000, concurrency: 1, maxAttempts: 1, timeoutMs: 20_000 });
    try {
      mode = 'drip';
      const t0 = Date.now();
      await expect(rest.klines({ symbol: 'BTCUSDT', interval: '1m', limit: 2 })).rejects.toThrow(/GET \/api\/v3\/klines failed/);
      // Three times the timeout, whatever the body does.
      expect(Date.now() - t0).toBeLessThan(3000);
      // The size cap, not the timeout: on a loaded machine this process took more than 300 ms to send
      // the 6 MB ("The operation was aborted due to timeout"), so the cap is asked of a client that waits.
      mode = 'huge';
      await expect(patient.klines({ symbol: 'BTCUSDT', interval: '1m', limit: 2 })).rejects.toThrow(/body over 4194304 bytes/);
    } finally {
      mode = 'plain';
      await rest.close();
      await patient.close();
    }
  });
});
