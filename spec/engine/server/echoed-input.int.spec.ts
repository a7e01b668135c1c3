import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { App } from '../../../engine/src/app.ts';
import { startTestApp } from '../../helpers/test-app.ts';
import { EngineClient } from '../../helpers/ws-client.ts';

/**
 * What an attacker puts in a path or a query comes back quoted in the error, bounded and with no
 * control character, line break or bidirectional override: a path segment as sent (percent-encoded),
 * a query value (decoded) with those escaped as `\uXXXX`. A query value was quoted raw.
 */
const hostile = encodeURIComponent(`\u202eBTC\r\nX-Evil: 1\u0000${'Z'.repeat(500)}`);
// Anything but printable ASCII, and the ellipsis that marks a cut.
const raw = /[^\x20-\x7e…]/u;

describe('input echoed in errors', () => {
  let app: App;
  beforeAll(async () => {
    app = await startTestApp({ source: 'sim', symbols: ['BTCUSDT'], intervals: ['1m'], bufferSize: 100, historyOnConnect: 50, seriesDir: 'series', simOptions: { pushIntervalMs: 100, clockSpeed: 60 } });
    await app.ready;
  }, 30_000);
  afterAll(async () => {
    await app?.stop();
  });

  it('HTTP: a JSON 400 quoting the symbol, interval, limit and series name escaped and cut', async () => {
    for (const path of [`/candles/${hostile}/1m`, `/candles/BTCUSDT/${hostile}`, `/candles/BTCUSDT/1m?limit=${hostile}`, `/series/${hostile}/BTCUSDT/1m`]) {
      const res = await request(`${app.url}${path}`);
      const body = (await res.body.json()) as { error: string };
      expect(res.statusCode, path).toBe(400);
      expect(body.error, path).not.toMatch(raw);
      expect(body.error.length, path).toBeLessThan(400);
    }
    const res = await request(`${app.url}/candles/BTCUSDT/1m?limit=${hostile}`);
    expect(((await res.body.json()) as { error: string }).error).toMatch(/^invalid limit '\\u202eBTC\\u000d\\u000aX-Evil: 1\\u0000Z+…'/);
  });

  it('WebSocket: an error message quoting the symbol as sent and cut, then the close', async () => {
    const c = new EngineClient(`${app.url.replace('http', 'ws')}/ws/${hostile}?interval=1m`);
    try {
      await c.until((x) => x.closeCode !== undefined, 10_000, 'close');
      const err = c.messages.find((m) => m.type === 'error') as unknown as { message: string } | undefined;
      // Percent-decoded as sent (a client that encodes its path is read as it meant), then escaped.
      expect(err?.message).toMatch(/^unknown symbol '\\u202eBTC\\u000d\\u000aX-Evil: 1\\u0000Z+…'/);
      expect(err!.message).not.toMatch(raw);
    } finally {
      c.close();
    }
  });
});
