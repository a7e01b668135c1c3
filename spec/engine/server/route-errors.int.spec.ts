import HyperExpress from 'hyper-express';
import uWS from 'uWebSockets.js';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../../engine/src/log.ts';
import { routeErrorHandler } from '../../../engine/src/server/route-errors.ts';
import { startApp } from '../../../engine/src/app.ts';

/**
 * A route that throws, flooded over real sockets. Before (hyper-express's default handler): a text
 * 500 and console.error of the whole stack per request (issue 14: 10 s of a flood wrote 115 MB of log).
 */
const SUMMARY_MS = 3000;

describe('errors thrown by routes', () => {
  const lines: string[] = [];
  let server: HyperExpress.Server;
  let url: string;
  let errors = 0;
  beforeAll(async () => {
    server = new HyperExpress.Server();
    // The summary's period must outlast the flood below (its 198 repeats in one line): at 300 ms, a
    // loaded machine answering the 200 requests more slowly split them over two lines.
    server.set_error_handler(routeErrorHandler({ log: createLogger('info', 'test', (l) => lines.push(l)), counted: () => errors++, summaryEveryMs: SUMMARY_MS }));
    server.get('/sync', () => {
      throw new Error('too many variants');
    });
    server.get('/async', async () => {
      await new Promise((r) => setImmediate(r));
      throw new TypeError('cannot read x of undefined');
    });
    server.get('/ok', (_req, res) => void res.json({ ok: true }));
    const socket = await server.listen(0, '127.0.0.1');
    url = `http://127.0.0.1:${uWS.us_socket_local_port(socket)}`;
  });
  afterAll(() => server?.close());

  it('answers each with a JSON 500 naming the error, logs each distinct error once and the repeats as one count', async () => {
    const paths = Array.from({ length: 200 }, (_, i) => (i % 2 ? '/sync' : '/async'));
    const answers = await Promise.all(
      paths.map(async (p) => {
        const res = await request(url + p);
        return { status: res.statusCode, type: res.headers['content-type'], body: (await res.body.json()) as { error: string } };
      }),
    );
    for (const a of answers) {
      expect(a.status).toBe(500);
      expect(String(a.type)).toMatch(/json/);
      expect(a.body.error).toMatch(/^internal error: (too many variants|cannot read x of undefined)$/);
    }
    expect(errors).toBe(200);
    // One line per distinct error (with where it was thrown), then one summary line, SUMMARY_MS after the first repeat.
    for (const deadline = Date.now() + SUMMARY_MS + 10_000; !lines.some((l) => /more failed requests/.test(l)); await new Promise((r) => setTimeout(r, 50))) {
      if (Date.now() > deadline) throw new Error(`no summary line: ${lines.join('\n')}`);
    }
    expect(lines.filter((l) => /request failed/.test(l))).toHaveLength(2);
    expect(lines.find((l) => /too many variants/.test(l))).toMatch(/route-errors\.int\.spec\.ts/);
    expect(lines.filter((l) => /198 more failed requests/.test(l))).toHaveLength(1);
    expect(lines).toHaveLength(3);
    // The server still serves.
    const ok = await request(`${url}/ok`);
    expect(ok.statusCode).toBe(200);
    await ok.body.dump();
  });
});

describe('a flood of derived-series parameter variants against the engine', () => {
  it('answers every request with JSON and writes a bounded log, not a stack trace per request', async () => {
    const lines: string[] = [];
    const app = await startApp({ source: 'sim', port: 0, host: '127.0.0.1', symbols: ['BTCUSDT'], intervals: ['1m'], bufferSize: 100, historyOnConnect: 50, clientDir: '', seriesDir: 'series', log: createLogger('info', 'engine', (l) => lines.push(l)), simOptions: { pushIntervalMs: 100, clockSpeed: 60, universeSize: 20 } });
    try {
      await app.ready;
      const before = lines.length;
      const stderr: string[] = [];
      // hyper-express's default handler wrote each error with console.error.
      const consoleError = console.error;
      console.error = (...a: unknown[]) => void stderr.push(a.map(String).join(' '));
      let answers: Array<{ status: number; json: boolean }>;
      try {
        answers = await Promise.all(
          Array.from({ length: 120 }, async (_, i) => {
            const res = await request(`${app.url}/series/rsi/BTCUSDT/1m?limit=2&period=${2 + i}`);
            const text = await res.body.text();
            let json = true;
            try {
              JSON.parse(text);
            } catch {
              json = false;
            }
            return { status: res.statusCode, json };
          }),
        );
      } finally {
        console.error = consoleError;
      }
      for (const a of answers) expect(a.json, `status ${a.status}`).toBe(true);
      expect(lines.length - before + stderr.length).toBeLessThanOrEqual(3);
    } finally {
      await app.stop();
    }
  });
});
