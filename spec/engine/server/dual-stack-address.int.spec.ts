import http from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { App } from '../../../engine/src/app.ts';
import { startTestApp } from '../../helpers/test-app.ts';

/** A GET from `localAddress` (one of 127.0.0.0/8), answered with its status. */
function get(url: string, localAddress: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = http.get(url, { localAddress, agent: false }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('error', reject);
  });
}

/**
 * A node listening dual-stack (`HOST=::`): uWS gives every IPv4 peer as a full IPv4-mapped IPv6
 * address, and each was rationed as the same /64 (`0:0:0:0::`): one IPv4 client used up the HTTP and
 * WebSocket rations of all of them (a review: 25 requests from 127.0.0.2, then 127.0.0.3 refused 429).
 * Real sockets on loopback from distinct source addresses.
 */
describe('rations on a dual-stack listener', () => {
  let app: App;
  beforeAll(async () => {
    app = await startTestApp({ source: 'sim', symbols: ['BTCUSDT'], intervals: ['1m'], host: '::', httpRequestsPerSecond: 2 });
    await app.ready;
  });
  afterAll(async () => app?.stop());

  it('rations each IPv4 client as itself (reproduced: all of them as one, 0:0:0:0::)', async () => {
    // Said as a URL (HOST=:: made http://:::port).
    expect(app.url).toMatch(/^http:\/\/localhost:\d+$/);
    const url = `http://127.0.0.1:${new URL(app.url).port}/candles/BTCUSDT/1m?limit=1`;
    let status = 0;
    for (let i = 0; i < 200 && status !== 429; i++) status = await get(url, '127.0.0.2');
    expect(status).toBe(429);
    expect(await get(url, '127.0.0.3')).toBe(200);
  });
});
