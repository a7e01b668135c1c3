import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { App } from '../../../engine/src/app.ts';
import { seriesId } from '../../../engine/src/domain/series-id.ts';
import { createLogger } from '../../../engine/src/log.ts';
import { FIRST_BAR, writeKlineRecording } from '../../helpers/kline-recording.ts';
import { startTestApp } from '../../helpers/test-app.ts';
import { until } from '../../helpers/until.ts';

const dir = mkdtempSync(join(tmpdir(), 'replay-pinned-streams-'));
const file = join(dir, 'run.jsonl.gz');
const BARS = 40;
const LATE = [
  { symbol: 'SOLUSDT', from: 5 },
  { symbol: 'ETHUSDT', from: 10 },
  { symbol: 'XRPUSDT', from: 15 },
];
/** A page a client of the live run read of DOGEUSDT: the replay serves DOGEUSDT on demand. */
const dogePage = { k: 'rest', t: 1, a: 1, q: '/api/v3/klines?symbol=DOGEUSDT&interval=1m&limit=5', s: 200, b: JSON.stringify([[FIRST_BAR, '1', '2', '0.5', '1.5', '1', FIRST_BAR + 59_999, '1', 1, '1', '1', '0']]) };

// MAX_ON_DEMAND_SERIES=2; the live run opened three streams on demand.
describe("a replay's streams opened on demand while recording, at MAX_ON_DEMAND_SERIES", () => {
  let replay: App;
  const warns: string[] = [];

  beforeAll(async () => {
    writeKlineRecording(file, { bars: BARS, stepMs: 10, late: LATE, rest: [dogePage] });
    const log = createLogger('warn', 'replay', (line) => void warns.push(line));
    replay = await startTestApp({ source: 'replay', replayFile: file, replaySpeed: 'max', maxOnDemandSeries: 2, log });
    await replay.ready;
    await replay.replay!.done;
    await until(() => LATE.slice(0, 2).every(({ symbol, from }) => replay.store.window(seriesId(symbol, '1m')).last(1000).length === BARS - from), 10_000, 'the pinned series stored');
  }, 30_000);

  afterAll(async () => {
    await replay?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('pins the first ones from their first frame, kept whole and not counted as on demand', () => {
    for (const { symbol, from } of LATE.slice(0, 2)) {
      const id = seriesId(symbol, '1m');
      expect(replay.store.window(id).last(1000).map((b) => b.openTime), symbol).toEqual(Array.from({ length: BARS - from }, (_, i) => FIRST_BAR + (from + i) * 60_000));
      expect(replay.lifecycle.restLane(id), symbol).toBe('live');
    }
    expect(replay.lifecycle.counts()).toMatchObject({ onDemand: 0, pinned: 3 });
  });

  it('does not replay the streams past the bound, and says so once with the count', () => {
    expect(replay.lifecycle.has(seriesId('XRPUSDT', '1m'))).toBe(false);
    const said = warns.filter((w) => w.includes('not replayed'));
    expect(said).toHaveLength(1);
    expect(said[0]).toContain('2 series the live run opened on demand are replayed, at most MAX_ON_DEMAND_SERIES (2)');
  });

  it('leaves MAX_ON_DEMAND_SERIES to the clients of the replay (reproduced: the replay held both for good, every other series was refused 503)', async () => {
    const res = await fetch(`${replay.url}/candles/DOGEUSDT/1m?limit=5`);
    expect(res.status).toBe(200);
    expect(((await res.json()) as { candles: Array<{ time: number }> }).candles.map((c) => c.time)).toEqual([FIRST_BAR]);
    expect(replay.lifecycle.counts()).toMatchObject({ onDemand: 1, pinned: 3 });
  });
});
