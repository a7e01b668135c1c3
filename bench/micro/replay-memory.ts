/**
 * Peak RSS of replaying a large generated recording at max speed to one WebSocket client, for a
 * checkout (this one by default, or an older one to compare: one process each).
 *
 *   npx tsx bench/micro/replay-memory.ts [repo root=.] [frames=1500000]
 *
 * The recording: bench/lib/generated-recording.ts.
 */
import { statSync } from 'node:fs';
import { resolve } from 'node:path';
import { WebSocket } from 'ws';
import { generatedRecording } from '../lib/generated-recording.ts';
import { peakMemory } from '../lib/peak-memory.ts';

const root = resolve(process.argv[2] ?? '.');
const frames = Number(process.argv[3] ?? 1_500_000);
const file = await generatedRecording(frames);
const { startReplayExchange } = (await import(`${root}/engine/src/record/replay-exchange.ts`)) as typeof import('../../engine/src/record/replay-exchange.ts');

const baseline = process.memoryUsage().rss;
const peak = peakMemory();
const started = performance.now();
const ex = await startReplayExchange({ file, speed: 'max' });
const loaded = performance.now();
let received = 0;
const ws = new WebSocket(ex.wsUrl);
ws.on('message', () => received++);
await ex.done;
while (received < ex.stats.framesSent) await new Promise((r) => setTimeout(r, 10));
const ended = performance.now();
const { peakRss, peakHeap } = peak.stop();
ws.terminate();
await ex.close();
const mb = (b: number) => `${(b / 2 ** 20).toFixed(0)} MB`;
console.log(
  JSON.stringify({
    tree: root,
    frames: ex.stats.framesSent,
    fileSize: mb(statSync(file).size),
    baselineRss: mb(baseline),
    peakRss: mb(peakRss),
    peakHeapUsed: mb(peakHeap),
    startMs: Math.round(loaded - started),
    playMs: Math.round(ended - loaded),
    framesHeldMax: (ex.stats as { framesHeldMax?: number }).framesHeldMax,
  }),
);
process.exit(0);
