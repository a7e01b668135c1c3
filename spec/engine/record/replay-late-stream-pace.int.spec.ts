import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { controlSendsPerSecond, REPLAY_SENDS_PER_SECOND } from '../../../engine/src/pipeline/control-sends-per-second.ts';
import type { App } from '../../../engine/src/app.ts';
import { seriesId } from '../../../engine/src/domain/series-id.ts';
import { writeKlineRecording } from '../../helpers/kline-recording.ts';
import { startTestApp } from '../../helpers/test-app.ts';
import { until } from '../../helpers/until.ts';

const dir = mkdtempSync(join(tmpdir(), 'replay-late-pace-'));
const file = join(dir, 'run.jsonl.gz');
/** Symbols the live run opened on demand, one a frame apart. */
const LATE = Array.from({ length: 15 }, (_, i) => `LATE${i}USDT`);

// How long such a replay takes is a benchmark's figure, not asserted here (.scratch s4: 12 late
// streams 4,032 ms at Binance's pace of control messages, 145-416 ms at the replay's).
describe("control messages to a replay are not paced at Binance's 3 a second", () => {
  it('a replay gives its shards a loopback pace; Binance and the simulator keep the default', () => {
    expect(controlSendsPerSecond('replay')).toBe(REPLAY_SENDS_PER_SECOND);
    expect(REPLAY_SENDS_PER_SECOND).toBeGreaterThan(100);
    expect(controlSendsPerSecond('binance')).toBeUndefined();
    expect(controlSendsPerSecond('sim')).toBeUndefined();
  });
});

describe('a replay of a recording with many streams opened on demand', () => {
  let replay: App | undefined;

  afterAll(async () => {
    await replay?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('plays a recording with 15 streams opened on demand whole, each late series from its first recorded bar', async () => {
    writeKlineRecording(file, { bars: 40, stepMs: 10, late: LATE.map((symbol, i) => ({ symbol, from: 1 + i })) });
    replay = await startTestApp({ source: 'replay', replayFile: file, replaySpeed: 'max' });
    await replay.ready;
    await replay.replay!.done;
    // Every late stream still waited for its SUBSCRIBE: its series holds every bar recorded of it.
    const stored = (i: number) => replay!.store.window(seriesId(LATE[i]!, '1m')).last(1000);
    await until(() => LATE.every((_, i) => stored(i).length === 40 - 1 - i), 10_000, 'every late series stored');
    for (const [i, symbol] of LATE.entries()) expect(stored(i)[0]?.openTime, symbol).toBe(replay.replay!.firstBar(symbol, '1m'));
  }, 30_000);
});
