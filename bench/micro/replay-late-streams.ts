/**
 * A replay at REPLAY_SPEED=max of a recording whose live run opened streams on demand partway: each
 * such stream's first frame waits for the engine's SUBSCRIBE (record/late-streams.ts), so the time to
 * play it all, with and without them, shows what those waits cost.
 *
 *   npx tsx bench/micro/replay-late-streams.ts [late streams, default 12]
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { writeKlineRecording } from '../../spec/helpers/kline-recording.ts';
import { startTestApp } from '../../spec/helpers/test-app.ts';

const late = Number(process.argv[2] ?? 12);
const dir = mkdtempSync(join(tmpdir(), 'replay-late-bench-'));
try {
  for (const n of [0, late, 0, late]) {
    const file = join(dir, `run-${n}.jsonl.gz`);
    writeKlineRecording(file, { bars: 40, stepMs: 10, late: Array.from({ length: n }, (_, i) => ({ symbol: `LATE${i}USDT`, from: 1 + i })) });
    const app = await startTestApp({ source: 'replay', replayFile: file, replaySpeed: 'max' });
    try {
      const t0 = performance.now();
      await app.ready;
      await app.replay!.done;
      console.log(`${n} late streams: played ${app.replay!.stats.framesSent} frames in ${Math.round(performance.now() - t0)} ms`);
    } finally {
      await app.stop();
    }
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}
