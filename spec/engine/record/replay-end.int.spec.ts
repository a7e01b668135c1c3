import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterAll, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { createLogger } from '../../../engine/src/log.ts';
import { readRecording } from '../../../engine/src/record/read-recording.ts';
import { startReplayExchange } from '../../../engine/src/record/replay-exchange.ts';
import { startTestApp } from '../../helpers/test-app.ts';
import { EngineClient } from '../../helpers/ws-client.ts';

const dir = mkdtempSync(join(tmpdir(), 'replay-end-'));
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('the end of a replay', () => {
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('keeps the connection alive after the last frame as Binance does: it pings (reproduced: silent, the engine took it for dead every ~65 s)', async () => {
    const file = join(dir, 'few.jsonl.gz');
    const rows = [{ k: 'meta', t: 1000, symbols: ['BTCUSDT'], intervals: ['1m'], source: 'sim' }, ...[0, 1, 2].map((i) => ({ k: 'ws', t: 1000 + i, d: `{"n":${i}}` }))];
    writeFileSync(file, gzipSync(rows.map((r) => JSON.stringify(r)).join('\n') + '\n'));
    const ex = await startReplayExchange({ file, speed: 'max', pingIntervalMs: 100 });
    const ws = new WebSocket(ex.wsUrl);
    try {
      let pings = 0;
      ws.on('ping', () => pings++);
      await ex.done;
      const atEnd = pings;
      await expect.poll(() => pings - atEnd, { timeout: 3000 }).toBeGreaterThanOrEqual(3);
    } finally {
      ws.terminate();
      await ex.close();
    }
  });

  it('logs "replay ended" with the frames played, tells clients `ended`, and /health stays 200 with replay: { done, frames }', async () => {
    // A short live run on the simulator, recorded.
    const file = join(dir, 'run.jsonl.gz');
    const sim = await startTestApp({ source: 'sim', symbols: ['BTCUSDT'], intervals: ['1m'], recordFile: file, simOptions: { pushIntervalMs: 50, clockSpeed: 60 } });
    await sim.ready;
    await sleep(1500);
    // And on until it holds more frames than the replay is checked for (frames > 10): a loaded machine's 1.5 s may hold fewer.
    await expect.poll(() => sim.metrics.value('engine_upstream_frames_total'), { timeout: 10_000 }).toBeGreaterThanOrEqual(15);
    await sim.stop();
    // Its meta line names the format's version (a replay refuses others).
    expect((await readRecording(file)).lines[0]).toMatchObject({ k: 'meta', version: 1, symbols: ['BTCUSDT'] });

    const lines: string[] = [];
    // A short stale time: before, a finished replay read `stale` (and /health 503) this long after its last frame.
    const app = await startTestApp({ source: 'replay', replayFile: file, replaySpeed: 'max', staleAfterMs: 1000, log: createLogger('info', 'test', (l) => lines.push(l)) });
    try {
      const client = new EngineClient(`${app.url.replace('http', 'ws')}/ws/BTCUSDT?interval=1m`);
      await app.ready;
      await app.replay!.done;
      const frames = app.replay!.stats.framesSent;
      expect(frames).toBeGreaterThan(10);
      await expect.poll(() => lines.find((l) => l.includes('replay ended')), { timeout: 5000 }).toBeDefined();
      expect(lines.find((l) => l.includes('replay ended'))).toContain(`frames=${frames}`);
      const statuses = () => client.messages.flatMap((m) => (m.type === 'status' ? [m.upstream] : []));
      await expect.poll(() => statuses().at(-1), { timeout: 5000 }).toBe('ended');
      const saidEnded = statuses().length;
      // Well past the stale time (1 s) and the shard's silence checks: still ended, still ready.
      await sleep(4000);
      expect(statuses().slice(saidEnded - 1)).toEqual(['ended']);
      const res = await fetch(`${app.url}/health`);
      const body = (await res.json()) as { notReady: string[]; replay?: unknown };
      expect(body.notReady).toEqual([]);
      expect(res.status).toBe(200);
      expect(body.replay).toEqual({ done: true, frames });
      expect(app.metrics.value('engine_upstream_reconnects_total')).toBe(0);
    } finally {
      await app.stop();
    }
  }, 40_000);
});
