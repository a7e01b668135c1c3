import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { Bar } from '../../../engine/src/domain/bar.ts';
import { seriesId } from '../../../engine/src/domain/series-id.ts';
import { readRecording } from '../../../engine/src/record/read-recording.ts';
import { replaySettled } from '../../helpers/replay-settled.ts';
import { startTestApp } from '../../helpers/test-app.ts';

const dir = mkdtempSync(join(tmpdir(), 'replay-universe-'));
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const MARKETS = ['BTCUSDT', 'ETHUSDT', 'SOLUSDT'];

describe('a recording made with SYMBOLS=* (the whole exchange)', () => {
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('replays every symbol it holds bars of, all kept as the live run kept them (reproduced: refused, its meta line says *)', async () => {
    const file = join(dir, 'all.jsonl.gz');
    const ids = MARKETS.map((s) => seriesId(s, '1m'));
    const rec = await startTestApp({ source: 'sim', symbols: ['*'], intervals: ['1m'], bufferSize: 200, recordFile: file, simOptions: { symbols: MARKETS, pushIntervalMs: 50, clockSpeed: 120 } });
    let live: Record<string, Bar[]>;
    try {
      await rec.ready;
      await sleep(2500);
      rec.sim!.faults.pauseStream();
      await replaySettled(rec, () => rec.sim!.stats.framesSent);
      live = Object.fromEntries(ids.map((id) => [id.key, rec.store.window(id).last(10_000)]));
    } finally {
      await rec.stop();
    }
    // The recording says what was configured: the whole exchange.
    expect((await readRecording(file)).lines[0]).toMatchObject({ k: 'meta', symbols: ['*'] });

    const replay = await startTestApp({ source: 'replay', replayFile: file, replaySpeed: 'max', bufferSize: 200 });
    try {
      await replay.ready;
      await replay.replay!.done;
      // Every frame sent, not yet every one taken in and its gaps filled.
      await replaySettled(replay, () => replay.replay!.stats.framesSent);
      expect(replay.replay!.symbols).toEqual(MARKETS);
      const res = await fetch(`${replay.url}/symbols`);
      expect(await res.json()).toMatchObject({ symbols: MARKETS, configured: MARKETS });
      for (const id of ids) {
        expect(live[id.key]!.length, id.key).toBeGreaterThan(50);
        expect(replay.store.window(id).last(10_000), id.key).toEqual(live[id.key]);
        // Kept for good, as SYMBOLS=* kept them live.
        expect(replay.lifecycle.restLane(id), id.key).toBe('live');
      }
    } finally {
      await replay.stop();
    }
  }, 60_000);
});
