import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { request } from 'undici';
import { startApp, type App, type AppOptions } from '../../../engine/src/app.ts';
import { seriesId } from '../../../engine/src/domain/series-id.ts';
import { silentLogger } from '../../../engine/src/log.ts';

type Health = { status: string; notReady?: string[]; upstream?: { live: boolean } };

async function get(app: App, path: string): Promise<{ status: number; body: Health }> {
  const res = await request(`${app.url}${path}`);
  return { status: res.statusCode, body: (await res.body.json()) as Health };
}

const options = (extra: AppOptions): AppOptions => ({
  source: 'sim',
  port: 0,
  host: '127.0.0.1',
  symbols: ['BTCUSDT'],
  intervals: ['1m', '10m'],
  historyOnConnect: 100,
  clientDir: '',
  log: silentLogger,
  simOptions: { pushIntervalMs: 200 },
  ...extra,
});

const custom = seriesId('BTCUSDT', '10m');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('readiness while a custom interval is still loading', () => {
  let app: App;
  beforeAll(async () => {
    // 10m from 1m with BUFFER_SIZE=5000 takes 51 REST pages (102 weight): under a budget of 60 per
    // minute, after the startup calls, it cannot load within the next minute whenever the test runs.
    app = await startApp(options({ bufferSize: 5000, restWeightBudget: 60 }));
    await app.ready;
  });
  afterAll(async () => {
    await app?.stop();
  });

  it('says not ready (503, naming the custom interval) while it is empty, though native series and upstream are live (was 200 ok); /livez stays 200', async () => {
    // The upstream is live once its first frame came (a connection alone says nothing).
    for (const deadline = Date.now() + 5000; !(await get(app, '/health')).body.upstream?.live; await sleep(50)) if (Date.now() > deadline) throw new Error('no frame');
    for (let i = 0; i < 10; i++) {
      const health = await get(app, '/health');
      const readyz = await get(app, '/readyz');
      const livez = await get(app, '/livez');
      // Read after the answers: empty now means empty when they were computed.
      expect(app.store.window(custom).size).toBe(0);
      expect(app.store.window(seriesId('BTCUSDT', '1m')).size).toBe(5000);
      expect(health.status).toBe(503);
      expect(health.body).toMatchObject({ status: 'degraded', notReady: ['custom intervals loading 0/1'] });
      expect(readyz.status).toBe(503);
      expect(readyz.body.notReady).toEqual(['custom intervals loading 0/1']);
      expect(livez).toEqual({ status: 200, body: { status: 'alive' } });
      await sleep(200);
    }
  });
});

describe('readiness once everything is loaded, and when the upstream goes', () => {
  let app: App;
  beforeAll(async () => {
    app = await startApp(options({ bufferSize: 200 }));
    await app.ready;
  });
  afterAll(async () => {
    await app?.stop();
  });

  it('turns ready (200 ok) once the custom interval holds its history, never before', async () => {
    for (let i = 0; ; i++) {
      const health = await get(app, '/health');
      if (health.status === 200) {
        expect(health.body).toMatchObject({ status: 'ok', notReady: [] });
        expect(app.store.window(custom).size).toBeGreaterThan(150);
        break;
      }
      expect(i).toBeLessThan(200);
      await sleep(100);
    }
    expect((await get(app, '/readyz')).status).toBe(200);
  });

  it('says not ready while the upstream is down, and stays alive', async () => {
    app.sim!.faults.refuseConnections(3000);
    app.sim!.faults.dropConnections();
    let down: Health | undefined;
    for (let i = 0; i < 100 && !down; i++) {
      const h = await get(app, '/health');
      if (h.status === 503) down = h.body;
      else await sleep(50);
    }
    expect(down?.notReady?.some((r) => r.startsWith('upstream'))).toBe(true);
    expect((await get(app, '/livez')).status).toBe(200);
  });
});
