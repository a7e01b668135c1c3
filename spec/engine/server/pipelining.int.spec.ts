import { createConnection } from 'node:net';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { App } from '../../../engine/src/app.ts';
import { startTestApp } from '../../helpers/test-app.ts';

/**
 * HTTP/1.1 pipelining as an attacker uses it: thousands of requests written at once on one kept-alive
 * connection, the answers never read. uWS answered every one and held what was not read (an
 * attacker-style probe: 320,000 `GET /metrics` on 8 connections made an edge hold 1.4 GB; the
 * per-address ration does not cover probes and scrapes, and a refusal is an answer too). Every answer
 * now closes its connection: the flood gets a few answers, then the connection ends.
 */
describe('pipelined requests on one connection, against the simulated exchange', () => {
  let app: App;

  beforeAll(async () => {
    app = await startTestApp({ source: 'sim', symbols: ['BTCUSDT'], intervals: ['1m'], bufferSize: 100, seriesDir: '', simOptions: { pushIntervalMs: 100, clockSpeed: 60, universeSize: 10 } });
    await app.ready;
  });
  afterAll(async () => {
    await app?.stop();
  });

  /** Writes `count` pipelined GETs of `path`, reads nothing for `pauseMs`, then reads until the server closes (or `readMs`). */
  const flood = (path: string, count: number, pauseMs = 1000, readMs = 5000) =>
    new Promise<{ answers: number; closedByServer: boolean }>((resolve) => {
      const socket = createConnection({ host: '127.0.0.1', port: Number(new URL(app.url).port) });
      let got = '';
      let closedByServer = false;
      const done = () => {
        clearTimeout(timer);
        socket.destroy();
        resolve({ answers: got.split('HTTP/1.1 ').length - 1, closedByServer });
      };
      const timer = setTimeout(done, pauseMs + readMs);
      socket.on('error', () => undefined);
      socket.on('end', () => {
        closedByServer = true;
        done();
      });
      socket.on('connect', () => {
        socket.pause();
        socket.write(`GET ${path} HTTP/1.1\r\nHost: engine\r\n\r\n`.repeat(count));
        setTimeout(() => {
          socket.on('data', (d) => (got += d.toString('latin1')));
          socket.resume();
        }, pauseMs);
      });
    });

  it('answers a few of 20,000 pipelined scrapes and closes the connection (was: all 20,000 answered and held)', async () => {
    for (const path of ['/metrics', '/livez', '/candles/BTCUSDT/1m?limit=1000']) {
      const r = await flood(path, 20_000);
      expect(r.closedByServer, path).toBe(true);
      expect(r.answers, path).toBeGreaterThanOrEqual(1);
      expect(r.answers, path).toBeLessThan(100);
    }
  }, 60_000);

  it('still serves clients that keep connections alive: each request answered, Connection: close', async () => {
    for (let i = 0; i < 50; i++) {
      const res = await request(`${app.url}/candles/BTCUSDT/1m?limit=10`);
      expect(res.statusCode).toBe(200);
      expect(res.headers.connection).toBe('close');
      expect(JSON.stringify(JSON.parse(await res.body.text()))).toMatch(/"time":/);
    }
  });
});
