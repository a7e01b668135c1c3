/**
 * Peak RSS of the series batch's read of a recording (`npm run series -- --recording`): every
 * closed 1m bar of one symbol from a large generated recording (bench/lib/generated-recording.ts),
 * for a checkout (this one by default, or an older one to compare: one process each).
 *
 *   npx tsx bench/micro/recorded-bars-memory.ts [repo root=.] [frames=1500000]
 */
import { statSync } from 'node:fs';
import { resolve } from 'node:path';
import { generatedRecording } from '../lib/generated-recording.ts';
import { peakMemory } from '../lib/peak-memory.ts';

const root = resolve(process.argv[2] ?? '.');
const frames = Number(process.argv[3] ?? 1_500_000);
const file = await generatedRecording(frames);
const { recordedBars } = (await import(`${root}/engine/cli/recorded-bars.ts`)) as typeof import('../../engine/cli/recorded-bars.ts');

const baseline = process.memoryUsage().rss;
const peak = peakMemory();
const started = performance.now();
const r = await recordedBars(file, 'BTCUSDT', '1m');
const ended = performance.now();
const { peakRss, peakHeap } = peak.stop();
const mb = (b: number) => `${(b / 2 ** 20).toFixed(0)} MB`;
console.log(JSON.stringify({ tree: root, frames, fileSize: mb(statSync(file).size), bars: r.bars.length, skipped: r.skipped, baselineRss: mb(baseline), peakRss: mb(peakRss), peakHeapUsed: mb(peakHeap), readMs: Math.round(ended - started) }));
